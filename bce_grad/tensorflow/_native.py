"""Load the op library into TensorFlow and hand its C++ kernel the kernel package.

:func:`load` builds (first use) and loads ``libbce_grad_tf`` (``tf.load_op_library``: its
``REGISTER_OP`` defines ``BinaryCrossEntropyGrad`` and its CPU kernels) and installs the package
resolver, a ctypes callback the C++ kernel calls on its first call in the process. The resolver
opens the package once (per package directory) with the native runtime and returns the handle and
the runtime's entry points; the C++ kernel keeps them, so later calls run no Python.
:func:`bind` makes that first call's binding from Python ahead of time (the op wrappers do, so a
missing package is reported where the op is built).

Which package: the one given to :func:`set_package`, else
``bce_grad.runtime.packages.ready_package(soc)``, else one that compiles each kernel on the first
call that needs it (:class:`~bce_grad.runtime.adapter.PackageChoice`).
"""
from __future__ import annotations

import ctypes
import os

from bce_grad.host_backend.errors import OpError
from bce_grad.runtime.adapter import PackageChoice

_packages = PackageChoice()
_lock = _packages.lock
_loaded: dict[str, object] = {}        # "module": tf.load_op_library's module, "cdll", "path"
_bound: list[bool] = []                # [True] once the C++ kernel holds a binding


def runtime():
    """The opened :class:`bce_grad.runtime.Runtime` of the chosen package (opened once)."""
    return _packages.runtime()


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
        cdll.bce_grad_tf_set_resolver(_packages.resolver_address)
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
    try:  # open (or build) the package here, in Python: Ctrl-C stays a KeyboardInterrupt,
        _packages.runtime()  # where inside the C++ resolver it would become a message
    except OpError as err:
        return str(err)
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
        _packages.choose(package, soc)
        _bound.clear()
        _loaded["cdll"].bce_grad_tf_set_resolver(_packages.resolver_address)
