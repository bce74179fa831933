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
read back by its fusion passes); Apache TVM's attribute maps are immutable. While installed,
an assignment keeps the value beside that op's map (which it holds alive, so its handle cannot
be reused), and reading the map (``[]``, ``in``, ``get``) sees it, a number or string as a TIR
constant (``0.2`` reads back with ``.value``, as on CANN). :func:`uninstall` drops them.
"""
from __future__ import annotations

import threading

_lock = threading.Lock()
_saved: dict[str, object] = {}
#: Attributes set on op attribute maps while installed: map handle -> (the map, {key: value}).
_added: dict[int, tuple[object, dict]] = {}


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

        getitem, contains = container.Map.__getitem__, container.Map.__contains__
        _saved["map"] = {name: container.Map.__dict__.get(name)
                         for name in ("__setitem__", "__getitem__", "__contains__", "get")}

        def set_attribute(self, key, value) -> None:
            with _lock:
                _added.setdefault(self.__chandle__(), (self, {}))[1][key] = _as_attribute(value)

        def get_attribute(self, key):
            extra = _added.get(self.__chandle__())
            if extra is not None and key in extra[1]:
                return extra[1][key]
            return getitem(self, key)

        def has_attribute(self, key) -> bool:
            extra = _added.get(self.__chandle__())
            return (extra is not None and key in extra[1]) or contains(self, key)

        def get(self, key, default=None):
            return get_attribute(self, key) if has_attribute(self, key) else default

        container.Map.__setitem__ = set_attribute
        container.Map.__getitem__ = get_attribute
        container.Map.__contains__ = has_attribute
        container.Map.get = get


def _as_attribute(value: object) -> object:
    """``value`` as CANN's TVM keeps an attribute: numbers and strings read back with ``.value``."""
    from tvm import tirx

    if isinstance(value, int):  # bool too
        return tirx.const(int(value), "int32" if -2**31 <= value < 2**31 else "int64")
    if isinstance(value, float):
        return tirx.const(value, "float32")
    if isinstance(value, str):
        return tirx.StringImm(value)
    if isinstance(value, (list, tuple)):
        return [_as_attribute(item) for item in value]
    return value


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

        for name, method in _saved.pop("map").items():
            if method is None:
                delattr(container.Map, name)
            else:
                setattr(container.Map, name, method)
        _added.clear()
