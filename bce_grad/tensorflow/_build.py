"""Build the TensorFlow op library from ``csrc/bce_grad_tf.cc``, once per machine and key.

The first :func:`library_path` compiles the source with the system C++ compiler (``$CXX``, else
``g++``; about 10-20 s) against the installed TensorFlow's headers and
``libtensorflow_framework`` (``tf.sysconfig``), and caches ``libbce_grad_tf-<key>.so`` under
``<cache root>/tensorflow`` through :func:`bce_grad.runtime.adapter.framework_library` (the key
hashes the source, the runtime's and the adapters' C headers, TensorFlow's version and build
flags, the compiler's identity and the flags).
"""
from __future__ import annotations

import functools
from pathlib import Path

from bce_grad.runtime.adapter import framework_cache_root, framework_library

SOURCE = Path(__file__).resolve().parent / "csrc" / "bce_grad_tf.cc"
CXXFLAGS = ("-O2", "-fPIC", "-shared", "-fvisibility=hidden", "-Wall", "-Wno-sign-compare",
            "-Wno-unused-function")


@functools.lru_cache(maxsize=None)
def _tf_flags() -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """(compile flags, link flags, identity) of the installed TensorFlow (``tf.sysconfig``)."""
    import tensorflow as tf

    compile_flags = tuple(tf.sysconfig.get_compile_flags())
    link_flags = list(tf.sysconfig.get_link_flags())
    lib_dirs = [flag[2:] for flag in link_flags if flag.startswith("-L")]
    link_flags += [f"-Wl,-rpath,{d}" for d in lib_dirs]
    return compile_flags, tuple(link_flags), f"tensorflow {tf.__version__} {' '.join(compile_flags)}"


def cache_root() -> Path:
    """``<cache root>/tensorflow``: ``$BCE_GRAD_CACHE/tensorflow``, else ``~/.cache/bce-grad/tensorflow``."""
    return framework_cache_root("tensorflow")


def library_path(root: Path | None = None) -> Path:
    """The op library for this machine and TensorFlow: built now if the cache lacks it.

    Parameters
    ----------
    root : Path, optional
        Cache directory; default :func:`cache_root`.

    Returns
    -------
    pathlib.Path
        ``libbce_grad_tf-<key>.so``, for ``tf.load_op_library``.

    Raises
    ------
    OpError
        E61001 when there is no C++ compiler (naming what to install) or the build fails.
    """
    return framework_library("libbce_grad_tf", SOURCE, CXXFLAGS, _tf_flags, "TensorFlow",
                             root)


def identity() -> str:
    """The installed framework's version and ABI, as the library's cache key (and a wheel's
    shipped adapter, :func:`bce_grad.runtime.prebuilt.adapter_library`) records it."""
    return _tf_flags()[2]
