"""The operator (CANN's ``impl/``: its sources, CANN's public API only), under a private name.

CANN loads an OPP's impl files by location; so does this package. It holds no code of its own:
its ``__path__`` is the folder of the operator's sources, the repository's top-level ``impl/``
in a checkout (editable install, ``PYTHONPATH=.``), the copy a built package ships in
``bce_grad/_impl/sources/`` when installed (``setup.py``'s build step makes it). So
``bce_grad._impl.binary_cross_entropy_grad`` is ``impl/binary_cross_entropy_grad.py``, its
relative imports resolve inside it, and a top-level ``impl`` (CANN's, on ``PYTHONPATH`` after
sourcing its environment) neither shadows it nor is shadowed by it.
"""
from __future__ import annotations

from pathlib import Path

#: Where the operator's sources are: a checkout's impl/, else the installed copy.
_CHECKOUT = Path(__file__).resolve().parent.parent.parent / "impl"
SOURCES = _CHECKOUT if (_CHECKOUT / "binary_cross_entropy_grad.py").is_file() else \
    Path(__file__).resolve().parent / "sources"
__path__ = [str(SOURCES)]
