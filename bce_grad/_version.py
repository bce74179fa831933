"""The project's version: one place, read by setup.cfg and ``bce_grad.__version__``."""
__version__ = "0.2.0"
