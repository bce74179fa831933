"""TensorFlow 1's graph API for CANN's 2022 case files, on TensorFlow 2 (opt-in).

canndev's case files compute some expected values with TensorFlow 1 graph code
(``tf.ConfigProto``, ``tf.placeholder``, ``tf.Session``). TensorFlow 1.15 has no wheel for
Python 3.11, and TensorFlow 2 keeps that API under ``tf.compat.v1`` only. With ``op-ut-run
--tf1-api``, the first ``import tensorflow`` in the frame's processes is followed by what
TensorFlow's own migration guide prescribes for such code: eager execution off, and each
``tf.compat.v1`` name that the top-level module lacks made visible there. Nothing happens
unless a case file imports TensorFlow, and only in the processes ``op-ut-run`` starts.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

MODULE = "tensorflow"


def expose_v1(tf) -> list[str]:
    """Turn eager execution off and add ``tf.compat.v1``'s missing names to ``tf``; returns them."""
    v1 = tf.compat.v1
    v1.disable_eager_execution()
    added = [name for name in dir(v1) if not name.startswith("_") and not hasattr(tf, name)]
    for name in added:
        setattr(tf, name, getattr(v1, name))
    return added


class _Loader(importlib.abc.Loader):
    def __init__(self, inner) -> None:
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module) -> None:
        self.inner.exec_module(module)
        expose_v1(module)


class Tf1ApiFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as the path would, and exposes the v1 API once it has loaded."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


def install() -> None:
    """Expose the v1 API at TensorFlow's first import in this process (now, if it is loaded)."""
    if MODULE in sys.modules:
        expose_v1(sys.modules[MODULE])
        return
    if not any(isinstance(finder, Tf1ApiFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, Tf1ApiFinder())
