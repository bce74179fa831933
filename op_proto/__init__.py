"""The operator's IR rules in Python: the same InferShape as ``binary_cross_entropy_grad.cc``."""
