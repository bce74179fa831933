"""Load the op library into TensorFlow and hand its C++ kernel the kernel package.

:func:`load` builds (first use) and loads ``libbce_grad_tf`` (``tf.load_op_library``: its
``REGISTER_OP`` defines ``BinaryCrossEntropyGrad`` and its CPU kernels) and installs the package
resolver, a ctypes callback the C++ kernel calls on its first call in the process. The resolver
opens the package once (per package directory) with the native runtime and returns the handle and
the runtime's entry points; the C++ kernel keeps them, so later calls run no Python.
:func:`bind` makes that first call's binding from Python ahead of time (the op wrappers do, so a
missing package is reported where the op is built).

Which package: the one given to :func:`set_package`, else
``bce_grad.runtime.default_package(soc)`` (``$BCE_GRAD_PACKAGE``, else built on first use).
"""
from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path

from bce_grad.host_backend.errors import OpError

_lock = threading.Lock()
_runtimes: dict[str, object] = {}      # package directory -> bce_grad.runtime.Runtime (kept open)
_choice: dict[str, object] = {"package": None, "soc": None}
_loaded: dict[str, object] = {}        # "module": tf.load_op_library's module, "cdll", "path"
_bound: list[bool] = []                # [True] once the C++ kernel holds a binding

_RESOLVER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
                             ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p),
                             ctypes.c_void_p, ctypes.c_size_t)


def package_dir() -> Path:
    """The package the kernel uses: :func:`set_package`'s, else the runtime's default package."""
    if _choice["package"] is not None:
        return Path(_choice["package"])
    from bce_grad.runtime.packages import default_package

    return Path(default_package(_choice["soc"]))


def runtime():
    """The opened :class:`bce_grad.runtime.Runtime` of :func:`package_dir` (opened once)."""
    with _lock:
        path = package_dir().resolve()
        opened = _runtimes.get(str(path))
        if opened is None:
            from bce_grad.runtime import Runtime

            opened = _runtimes[str(path)] = Runtime(path)
        return opened


def _resolve(package, backward, last_error, message, size) -> int:
    """The C++ kernel's resolver (runs under the GIL, which ctypes takes); never raises."""
    try:
        rt = runtime()
        lib = rt._lib
        package[0] = rt._handle.value
        backward[0] = ctypes.cast(lib.bce_grad_backward, ctypes.c_void_p).value
        last_error[0] = ctypes.cast(lib.bce_grad_last_error, ctypes.c_void_p).value
        return 0
    except BaseException as err:  # noqa: BLE001 - nothing may cross the C boundary
        text = str(err) if isinstance(err, OpError) else \
            f"[E61001] In op[binary_cross_entropy_grad], opening the kernel package failed: " \
            f"{type(err).__name__}: {err}"
        data = text.encode(errors="replace")[:max(int(size), 1) - 1]
        ctypes.memmove(message, data, len(data))
        return 1


_resolver = _RESOLVER(_resolve)  # kept alive for the process: C++ holds its address


def load():
    """Build if needed, load into TensorFlow, install the resolver (once per process).

    Returns
    -------
    module
        What ``tf.load_op_library`` returns: ``binary_cross_entropy_grad(...)`` builds the op.
    """
    module = _loaded.get("module")
    if module is not None:  # the common case: no lock
        return module
    with _lock:
        if "module" in _loaded:
            return _loaded["module"]
        import tensorflow as tf

        from bce_grad.tensorflow._build import library_path

        path = str(library_path())
        module = tf.load_op_library(path)
        cdll = ctypes.CDLL(path)  # the same loaded image: dlopen counts references
        cdll.bce_grad_tf_set_resolver.argtypes = [ctypes.c_void_p]
        cdll.bce_grad_tf_set_resolver.restype = None
        cdll.bce_grad_tf_bind.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        cdll.bce_grad_tf_bind.restype = ctypes.c_int
        cdll.bce_grad_tf_set_resolver(ctypes.cast(_resolver, ctypes.c_void_p))
        _loaded.update(module=module, cdll=cdll, path=path)
        return module


def library_file() -> str:
    """The path of the loaded op library (loading it first)."""
    load()
    return str(_loaded["path"])


def bind() -> str | None:
    """Give the C++ kernel its package now, as its first call would (a no-op once bound).

    Returns
    -------
    str or None
        None when bound; else why not (the text starts with a CANN code, E61001 or the
        package's own), which the caller raises as TF's ``FailedPreconditionError``.
    """
    if _bound:
        return None
    load()
    message = ctypes.create_string_buffer(2048)
    if _loaded["cdll"].bce_grad_tf_bind(message, len(message)) != 0:
        return message.value.decode(errors="replace")
    _bound[:] = [True]
    return None


def set_package(package: str | os.PathLike | None = None, *, soc: str | None = None) -> None:
    """Choose the kernel package (None: the runtime's default for ``soc``); the next call opens it.

    Packages opened before stay open (a call in flight may use one).
    """
    load()
    with _lock:
        _choice["package"] = None if package is None else os.fspath(package)
        _choice["soc"] = soc
        _bound.clear()
        _loaded["cdll"].bce_grad_tf_set_resolver(ctypes.cast(_resolver, ctypes.c_void_p))
