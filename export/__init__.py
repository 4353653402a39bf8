"""edgebind.export: ONNX export, FP16/INT8 quantisation and runtime backends for edge targets."""
