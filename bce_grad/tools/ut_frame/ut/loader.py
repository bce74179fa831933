"""Find and load UT case files (``test_*_impl.py``) and their module-level ``ut_case``."""
from __future__ import annotations

import fnmatch
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Sequence

CASE_FILE_PATTERN = "test_*_impl.py"


def find_case_files(case_files: str | Sequence[str]) -> list[Path]:
    """Files matching ``test_*_impl.py`` in the given files and directories (comma list)."""
    items = case_files.split(",") if isinstance(case_files, str) else list(case_files)
    found: list[Path] = []
    for item in (i.strip() for i in items if i and i.strip()):
        path = Path(item)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob(CASE_FILE_PATTERN) if "__pycache__" not in p.parts))
        elif path.is_file():
            if not fnmatch.fnmatch(path.name, CASE_FILE_PATTERN):
                raise RuntimeError(f"case file [{path}] should match {CASE_FILE_PATTERN}")
            found.append(path)
        else:
            raise RuntimeError(f"the parameter [--case_files] names [{item}], which does not exist")
    return found


def _module_name(path: Path) -> str:
    return "ut_case_file_" + re.sub(r"\W", "_", str(path.resolve()))


def package_root(path: Path) -> Path:
    """The folder above the outermost package that holds ``path`` (its own folder if none).

    A case file inside packages (``testcases/ut/__init__.py``...) imports its helpers by their
    full name (``testcases.ut.helpers``), as pytest's ``prepend`` import mode makes possible by
    putting this folder on ``sys.path``.
    """
    folder = path.resolve().parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        folder = folder.parent
    return folder


def load_case_module(path: Path) -> ModuleType:
    """Import a case file by path (once per process), its :func:`package_root` on ``sys.path``.

    The root stays on ``sys.path`` for the run: case functions may import helpers when called.
    """
    from bce_grad.tools.ut_frame import ensure_op_test_frame

    ensure_op_test_frame()
    name = _module_name(path)
    if name in sys.modules:
        return sys.modules[name]
    root = str(package_root(path))
    if root not in sys.path:
        sys.path.insert(0, root)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"case file [{path}] cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_ut_case(path: Path) -> Any:
    """The ``ut_case`` of a case file; a clear error names the file and the key if it is absent."""
    module = load_case_module(path)
    ut_case = getattr(module, "ut_case", None)
    if ut_case is None:
        raise RuntimeError(f"case file [{path}] should define a module-level [ut_case], an OpUT, "
                           f"but it has none")
    if not all(hasattr(ut_case, m) for m in ("add_case", "add_precision_case", "op_type")):
        raise RuntimeError(f"case file [{path}]: [ut_case] should be an OpUT, but actually is "
                           f"{type(ut_case).__name__}")
    return ut_case
