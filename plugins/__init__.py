"""vocfw's built-in plugins: corpora, models and samplers, registered like any other plugin."""
