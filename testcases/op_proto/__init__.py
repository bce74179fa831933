"""Checks of the C++ op proto: compiled against CANN's public headers, and its InferShape
run on the same table of cases as ``bce_grad/infer_shape.py``."""
