"""Opt-in: CANN's own Python module names (``te``, ``tbe``) mapped onto the host backend.

CANN's op_test_frame and CANN's operator files import ``te.lang.cce``, ``te.platform``,
``tbe.dsl``, ``tbe.common.context``, ... This layer provides those names so that such
code runs, unmodified, on the host backend::

    import bce_grad.cann_compat as cann_compat
    cann_compat.install()          # refused where a real CANN ``te`` or ``tbe`` is importable
    import te.lang.cce             # now the host backend's DSL

Rules:

- Nothing happens on import of this package; :func:`install` is the only switch. It
  adds module objects to ``sys.modules`` (never files named ``te/`` or ``tbe/``) and a
  finder that answers unknown ``te.*``/``tbe.*`` submodules with a clear error.
- A name the host cannot honour raises an error naming the API
  (:class:`~bce_grad.cann_compat.errors.UnsupportedApiError`); nothing runs in its place.
- Every module carries :data:`MARKER`; the project's ``impl/util/platform_adapter.py``
  checks it on ``tbe`` first, so the project's operator still knows it runs on the host.
- Process-wide patches (``te.Tensor.dtype`` as a ``str``, see
  :mod:`~bce_grad.cann_compat.dtypes`) happen only after :func:`install`.
- Child interpreters (multiprocessing spawn/forkserver) get the layer through
  :func:`bce_grad.cann_compat.workers.export`.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import threading

from bce_grad.cann_compat.errors import CannCompatError, Unhonoured, UnsupportedApiError
from bce_grad.cann_compat.modules import MARKER

__all__ = ["MARKER", "CannCompatError", "Unhonoured", "UnsupportedApiError", "install",
           "installed", "uninstall", "real_cann_importable"]

ROOTS = ("te", "tbe")
_lock = threading.Lock()
_installed: dict[str, object] = {}


class _CompatFinder(importlib.abc.MetaPathFinder):
    """Answers a ``te.*``/``tbe.*`` submodule the layer lacks with an error naming it."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in ROOTS and fullname not in sys.modules:
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: the host backend's CANN compat layer "
                f"(bce_grad.cann_compat) provides the elementwise and broadcast tbe DSL and the "
                f"modules CANN's op_test_frame uses, not this one", name=fullname)
        return None


def _is_ours(module: object) -> bool:
    return bool(getattr(module, MARKER, False))


def real_cann_importable() -> str | None:
    """The name (``te`` or ``tbe``) of a real CANN package importable here, if any."""
    for root in ROOTS:
        module = sys.modules.get(root)
        if module is not None:
            if not _is_ours(module):
                return root
            continue
        try:
            if importlib.util.find_spec(root) is not None:
                return root
        except (ImportError, ValueError):
            continue
    return None


def install() -> None:
    """Put the layer's modules into ``sys.modules`` (once per process).

    Raises
    ------
    CannCompatError
        When a real CANN ``te`` or ``tbe`` is importable: real CANN code must run on it.
    """
    with _lock:
        if _installed:
            return
        real = real_cann_importable()
        if real:
            raise CannCompatError(
                f"bce_grad.cann_compat.install() refused: a real CANN package [{real}] is "
                f"importable ({getattr(sys.modules.get(real), '__file__', None) or real}); CANN "
                f"code should run on it, not on the host backend")
        from bce_grad.cann_compat.modules import build_modules

        modules = build_modules()
        finder = _CompatFinder()
        sys.meta_path.insert(0, finder)
        sys.modules.update(modules)
        _installed.update(modules)
        _installed["__finder__"] = finder


def installed() -> bool:
    """Whether :func:`install` is in effect in this process."""
    return bool(_installed)


def uninstall() -> None:
    """Remove the layer's modules, its finder and its process-wide patches."""
    from bce_grad.cann_compat import dtypes

    with _lock:
        finder = _installed.pop("__finder__", None)
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)
        for name, module in _installed.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
        _installed.clear()
        dtypes.uninstall()
