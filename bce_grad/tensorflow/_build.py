"""Build the TensorFlow op library from ``csrc/bce_grad_tf.cc``, once per machine and key.

The first :func:`library_path` compiles the source with the system C++ compiler (``$CXX``, else
``g++``; about 10-20 s) against the installed TensorFlow's headers and
``libtensorflow_framework`` (``tf.sysconfig``), and caches ``libbce_grad_tf-<key>.so`` under
``<cache>/../tensorflow`` (beside the runtime library, see
:func:`bce_grad.runtime.build.cache_root`). The key hashes the source, the runtime's C header,
TensorFlow's version and build flags, the compiler's identity and the flags, so any change builds
afresh. Builders of one key (threads, processes) share :func:`bce_grad.runtime.build.build_once`:
a file lock, a private directory, a rename into place.
"""
from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from pathlib import Path

from bce_grad.host_backend.errors import OpError
from bce_grad.runtime import build as runtime_build

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
    """``<kernel cache>/../tensorflow``: beside ``$BCE_GRAD_CACHE``, else ``~/.cache/bce-grad``."""
    return runtime_build.cache_root().parent / "tensorflow"


def build_key() -> str:
    """The cache key: the source, the runtime header, TensorFlow, the compiler, the flags."""
    header = runtime_build.INCLUDE_DIR / "bce_grad_runtime.h"
    blob = json.dumps({
        "source": hashlib.sha256(SOURCE.read_bytes()).hexdigest(),
        "header": hashlib.sha256(header.read_bytes()).hexdigest(),
        "tensorflow": _tf_flags()[2], "compiler": runtime_build.compiler()[1], "flags": CXXFLAGS,
    }, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _compile(out: Path) -> None:
    cxx = runtime_build.compiler()[0]
    compile_flags, link_flags, _ = _tf_flags()
    ffi = runtime_build._package_dir("tvm_ffi")  # dlpack/dlpack.h, as the runtime is built
    cmd = [cxx, *CXXFLAGS, *compile_flags, f"-I{runtime_build.INCLUDE_DIR}",
           f"-I{ffi / 'include'}", str(SOURCE), "-o", str(out), *link_flags]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout)[-3000:]
        raise OpError("E61001", f"building the TensorFlow op library failed ({cxx} exited with "
                      f"{done.returncode}):\n{tail}", param_name=runtime_build.CXX_ENV)


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
    root = Path(root) if root is not None else cache_root()
    return runtime_build.build_once(root / f"libbce_grad_tf-{build_key()}.so", _compile)
