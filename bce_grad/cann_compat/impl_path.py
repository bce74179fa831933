"""Load operators from a directory laid out as CANN's ``impl/``, skipping package ``__init__`` files.

canndev's ``impl/__init__.py`` imports about 400 operators (TIK, cube, fusion: most cannot
run on the host). :func:`use_impl_dir` makes ``impl`` and every ``impl.<sub>`` package an
empty package over the directory (its ``__init__.py`` is not executed), while modules
(``impl.dynamic.binary_cross_entropy_grad``, ``impl.util.util_common``) load as usual. The
shared modules that package's import order brings in first are imported first here too
(:data:`SHARED_FIRST`), so their import cycle resolves as on CANN.
Any ``impl`` already imported is removed from ``sys.modules`` first. The project's operator is
``bce_grad._impl`` on the host (never ``impl``); ``op_ut_run`` serves it as ``impl`` through
this finder when no ``--impl-path`` is given.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from pathlib import Path

PACKAGE = "impl"


class _EmptyPackageLoader(importlib.abc.Loader):
    """Creates a package module and executes nothing (its ``__init__.py`` is skipped)."""

    def create_module(self, spec):
        return None

    def exec_module(self, module) -> None:
        module.__doc__ = f"{module.__name__}: package __init__ not executed (bce_grad.cann_compat)"


class ImplDirFinder(importlib.abc.MetaPathFinder):
    """Finds ``impl`` and ``impl.*`` under one directory only."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def find_spec(self, fullname, path=None, target=None):
        if fullname != PACKAGE and not fullname.startswith(PACKAGE + "."):
            return None
        rel = Path(*fullname.split(".")[1:])
        where = self.root / rel
        if where.is_dir():
            spec = importlib.machinery.ModuleSpec(fullname, _EmptyPackageLoader(), is_package=True)
            spec.submodule_search_locations = [str(where)]
            spec.origin = str(where)
            return spec
        source = where.with_suffix(".py")
        if source.is_file():
            return importlib.util.spec_from_file_location(fullname, source)
        return None


def use_impl_dir(root: str | Path) -> ImplDirFinder:
    """Serve ``impl`` from ``root`` in this process; returns the finder (put first on the path).

    Raises
    ------
    FileNotFoundError
        When ``root`` is not a directory.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"--impl-path should be a directory laid out as CANN's impl/, "
                                f"but [{root}] is not a directory")
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        del sys.modules[name]
    for finder in [f for f in sys.meta_path if isinstance(f, ImplDirFinder)]:
        sys.meta_path.remove(finder)
    finder = ImplDirFinder(root)
    sys.meta_path.insert(0, finder)
    _import_shared_first(root)
    return finder


#: impl modules CANN's package has imported before an operator asks for them, in that order.
#: canndev's ``util/util_common.py`` and ``util/platform_adapter.py`` import each other: imported
#: first (as ``impl/__init__.py``'s operators do), util_common lets platform_adapter finish;
#: platform_adapter first fails on a half-initialised module, and every operator with it.
#: canndev's ``impl/dynamic/__init__.py`` imports ``binary_query_register`` first, and its
#: operators bring ``util_attr_common`` in; case files reload both by their module names.
SHARED_FIRST = ("impl.util.util_common", "impl.util.util_attr_common",
                "impl.dynamic.binary_query_register")


def _import_shared_first(root: Path) -> None:
    """Import :data:`SHARED_FIRST` where ``root`` has them, the equivalent of ``impl/__init__``'s
    import order without running it. A failure here is left to the operator that imports the
    module, which reports it with its case."""
    import importlib

    for name in SHARED_FIRST:
        if root.joinpath(*name.split(".")[1:]).with_suffix(".py").is_file():
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - reported by the operator's own import
                pass
