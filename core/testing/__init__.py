"""What a plugin author's tests use: the contract kit (``contracts``), synthetic audio
(``fixture``) and tiny processed datasets and runs (``processed``)."""
