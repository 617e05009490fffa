"""Export a trained vocoder to ONNX with a torch-free runtime."""
