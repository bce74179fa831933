"""A tensor's ``dtype`` as CANN code has it: a ``str``.

CANN code calls ``x.dtype.lower()``, uses dtypes as dict keys and writes them to JSON.
Apache TVM 0.27 returns a ``PrimType`` from ``te.Tensor.dtype``: ``== "float16"`` works,
``.lower()``, hashing as the name and ``json.dumps`` do not.

Why a patch, and why only behind the opt-in: the host backend cannot hand out its own
tensor class (TVM's FFI objects refuse ``__class__`` assignment, "deallocator differs",
and TVM creates compute results itself), and a process-wide change is not safe for
everyone: TVM's own ``topi`` calls ``x.dtype.matches_code(...)`` on te tensors. So
:func:`install` (called by :func:`bce_grad.cann_compat.install` on first use of a tensor
API) makes ``te.Tensor.dtype`` a :class:`DTypeName`, a ``str`` that still answers
PrimType's attributes (``matches_code``, ``dtype``, ...), and pins ``Tensor.expr_ty()``
(TVM's own accessor) to the PrimType; :func:`uninstall` restores both.

CANN's TVM fork also lets operators add attributes to a made op (``res.op.attrs["x"] = v``,
read by its fusion passes); Apache TVM's attribute maps are fixed. While installed, such an
assignment raises :class:`~bce_grad.cann_compat.errors.UnsupportedApiError` naming it,
instead of a bare ``TypeError``.
"""
from __future__ import annotations

import threading

_lock = threading.Lock()
_saved: dict[str, object] = {}


class DTypeName(str):
    """A dtype name (``"float16"``) that also answers the attributes of TVM's ``PrimType``."""

    def __new__(cls, prim: object) -> "DTypeName":
        obj = super().__new__(cls, str(prim))
        obj._prim = prim
        return obj

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.__dict__["_prim"], name)

    def __reduce__(self):
        return (str, (str(self),))

    def __copy__(self) -> "DTypeName":
        return self

    def __deepcopy__(self, memo: dict) -> "DTypeName":
        return self


def install() -> None:
    """Make ``te.Tensor.dtype`` a :class:`DTypeName` in this process (once)."""
    with _lock:
        if _saved:
            return
        from tvm.te import tensor as te_tensor

        tensor_ffi = te_tensor._ffi_api  # pylint: disable=protected-access
        cls = te_tensor.Tensor
        _saved["dtype"] = cls.__dict__["dtype"]
        _saved["expr_ty"] = cls.__dict__["expr_ty"]
        cls.dtype = property(lambda self: DTypeName(tensor_ffi.TensorDType(self)),
                             doc="The element type's name, as a str (bce_grad.cann_compat).")
        cls.expr_ty = lambda self: tensor_ffi.TensorDType(self)
        import tvm_ffi.container as container

        _saved["map_setitem"] = container.Map.__dict__.get("__setitem__")
        container.Map.__setitem__ = _refuse_attribute


def _refuse_attribute(self, key: object, value: object) -> None:
    from bce_grad.cann_compat.errors import UnsupportedApiError

    raise UnsupportedApiError(f"op.attrs[{key!r}] = ...", "Apache TVM fixes an op's attributes "
                              "when the op is made; CANN's TVM fork lets operators add them for "
                              "its fusion passes")


def installed() -> bool:
    """Whether :func:`install` is in effect."""
    return bool(_saved)


def uninstall() -> None:
    """Restore TVM's own ``te.Tensor.dtype`` and ``expr_ty``."""
    with _lock:
        if not _saved:
            return
        from tvm.te import tensor as te_tensor

        te_tensor.Tensor.dtype = _saved.pop("dtype")
        te_tensor.Tensor.expr_ty = _saved.pop("expr_ty")
        import tvm_ffi.container as container

        setitem = _saved.pop("map_setitem")
        if setitem is None:
            del container.Map.__setitem__
        else:
            container.Map.__setitem__ = setitem
