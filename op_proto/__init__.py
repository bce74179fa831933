"""CANN's op proto sources (REG_OP and InferShape in C++), shipped as bce_grad's package data.

The same InferShape in Python is :mod:`bce_grad.infer_shape`."""
