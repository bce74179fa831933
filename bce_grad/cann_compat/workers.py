"""The layer in child interpreters: multiprocessing spawn and forkserver start fresh ones.

A forked child inherits ``sys.modules``; a spawned one does not. :func:`export` writes a
``sitecustomize.py`` into a new temporary directory (never into site-packages), puts that
directory first on ``PYTHONPATH`` and the layer's settings into ``$BCE_GRAD_CANN_COMPAT``
(JSON). Every child Python started with this environment runs the shim at start-up, which
calls :func:`bootstrap` when the variable is set, then runs whatever ``sitecustomize``
the interpreter would have run without the shim. :func:`unexport` restores the
environment and removes the directory.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

ENV = "BCE_GRAD_CANN_COMPAT"
_SHIM_MARK = "bce_grad_cann_compat_shim"

SHIM = f'''"""Start-up shim of bce_grad.cann_compat (a temporary directory; see workers.py)."""
import os as _os
import sys as _sys


def _chain():
    # run the sitecustomize this interpreter would have found without the shim
    import importlib.machinery as _machinery
    import importlib.util as _util
    here = _os.path.dirname(_os.path.abspath(__file__))
    path = [p for p in _sys.path if _os.path.abspath(p or ".") != here]
    spec = _machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is not None and spec.loader is not None:
        module = _util.module_from_spec(spec)
        spec.loader.exec_module(module)


if _os.environ.get("{ENV}"):
    from bce_grad.cann_compat.workers import bootstrap as _bootstrap
    _bootstrap()
_chain()
{_SHIM_MARK} = True
'''


def bootstrap(config: dict | None = None) -> None:
    """Install what the settings (``$BCE_GRAD_CANN_COMPAT`` when None) ask for, in this process.

    Keys: ``layer`` (install the layer), ``impl_path`` (serve ``impl`` from it), ``frame``
    (patch CANN's op_test_frame for the host, :mod:`bce_grad.cann_compat.frame`), ``tf1_api``
    (TensorFlow 1's graph API for case files, :mod:`bce_grad.cann_compat.tf1_api`).
    """
    if config is None:
        config = json.loads(os.environ.get(ENV) or "{}")
    if config.get("layer", True):
        from bce_grad.cann_compat import install

        install()
    if config.get("impl_path"):
        from bce_grad.cann_compat.impl_path import use_impl_dir

        use_impl_dir(config["impl_path"])
    if config.get("frame"):
        from bce_grad.cann_compat.frame import patch_frame

        patch_frame()
    if config.get("tf1_api"):
        from bce_grad.cann_compat import tf1_api

        tf1_api.install()


class Exported:
    """What :func:`export` changed, for :func:`unexport`."""

    def __init__(self, directory: Path, saved: dict[str, str | None]) -> None:
        self.directory = directory
        self.saved = saved


def export(config: dict, extra_paths: list[str] | None = None) -> Exported:
    """Make child interpreters started from now on bootstrap with ``config``."""
    directory = Path(tempfile.mkdtemp(prefix="bce_grad_cann_compat_"))
    (directory / "sitecustomize.py").write_text(SHIM)
    saved = {key: os.environ.get(key) for key in (ENV, "PYTHONPATH")}
    paths = [str(directory), *(extra_paths or [])]
    if saved["PYTHONPATH"]:
        paths.append(saved["PYTHONPATH"])
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)
    os.environ[ENV] = json.dumps(config)
    return Exported(directory, saved)


def unexport(exported: Exported) -> None:
    """Undo :func:`export`: restore the environment and remove the shim directory."""
    for key, value in exported.saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    shutil.rmtree(exported.directory, ignore_errors=True)
