"""Tools around the BinaryCrossEntropyGrad operator: Python API, CLI, runners and packager."""
