"""tbe.dsl compute ops on Apache TVM tensor expressions.

Each op builds one ``te.compute`` stage named after it. The dtype flow is the
DSL's: an op computes and rounds in its operands' dtype (float16 stays float16);
only :func:`~bce_grad.host_backend.dsl.cast.cast_to` changes dtypes. Every op rounds on its own, as CANN's vector
unit does: a product is never contracted with a following add into a fused
multiply-add (:func:`_product`). Operands of a binary op must share shape
and dtype, as on CANN; :func:`broadcast` makes shapes agree first.
"""
from __future__ import annotations

from typing import Sequence, Union

import tvm
from tvm import te, tirx

from bce_grad.host_backend import platform
from bce_grad.host_backend.errors import OpError

Scalar = Union[int, float, tvm.ir.Expr]


def dtype_of(obj: te.Tensor | tvm.ir.Expr) -> str:
    """The dtype name of a tensor or an expression (TVM 0.27 keeps it as a PrimType)."""
    if isinstance(obj, te.Tensor) or not isinstance(obj, tvm.ir.Expr):
        return str(obj.dtype)
    return str(obj.ty)


def _check_same(api: str, lhs: te.Tensor, rhs: te.Tensor) -> None:
    if dtype_of(lhs) != dtype_of(rhs):
        raise OpError("E80018", f"tbe.dsl.{api}: the dtypes of lhs [{lhs.dtype}] and rhs "
                      f"[{rhs.dtype}] should be the same", param_name="rhs")
    if not _same_shape(lhs.shape, rhs.shape):
        raise OpError("E80017", f"tbe.dsl.{api}: the shapes of lhs {list(lhs.shape)} and rhs "
                      f"{list(rhs.shape)} should be the same; broadcast first", param_name="rhs")


def _check_tensor(api: str, name: str, value: object) -> None:
    """E80000 unless ``value`` (the parameter ``name`` of ``tbe.dsl.<api>``) is a tensor."""
    if not isinstance(value, te.Tensor):
        raise OpError("E80000", f"tbe.dsl.{api}: the parameter[{name}] should be a tensor, "
                      f"but actually is [{type(value).__name__}]", param_name=name)


def _same_shape(lhs: Sequence[tvm.ir.Expr], rhs: Sequence[tvm.ir.Expr]) -> bool:
    if len(lhs) != len(rhs):
        return False
    return all(str(a) == str(b) for a, b in zip(lhs, rhs))


def _const(value: int | tvm.ir.Expr) -> int | None:
    if isinstance(value, int):
        return value
    return int(value.value) if isinstance(value, tirx.IntImm) else None


def _scalar(value: Scalar, dtype: str) -> tvm.ir.Expr:
    if isinstance(value, tvm.ir.Expr):
        return value if dtype_of(value) == dtype else value.astype(dtype)
    return tirx.const(value, dtype)


def _rounded_in_dtype(fn, dtype: str):
    """``fn`` as it runs for ``dtype``: bfloat16 computes in float32 and rounds each op.

    TVM's bfloat16 legalisation keeps float32 between ops and rounds only at the
    store, so ``vadd(vmul(a, b), c)`` would round once; CANN rounds every op.
    """
    if dtype != "bfloat16":
        return fn
    def rounded(*values):
        value = fn(*(v.astype("float32") for v in values))
        return _to_bfloat16(value, _is_arithmetic(value))

    return rounded


def _elementwise(name: str, tensors: Sequence[te.Tensor], fn, attrs: dict | None = None) -> te.Tensor:
    shape = tensors[0].shape
    fn = _rounded_in_dtype(fn, dtype_of(tensors[0]))
    return te.compute(shape, lambda *i: fn(*(t[i] for t in tensors)), name=name,
                      tag=f"elewise_{name}", attrs=attrs)


def _binary(name: str, fn):
    def op(lhs: te.Tensor, rhs: te.Tensor) -> te.Tensor:
        _check_same(name, lhs, rhs)
        return _elementwise(name, (lhs, rhs), fn)

    op.__name__ = name
    op.__doc__ = f"Elementwise ``{name}`` of two tensors of one shape and dtype."
    return op


#: ``te.compute`` attribute of a ``vmuls(tensor, -1)``: the tensor it negates.
NEGATION_OF = "bce_grad_negation_of"


def _with_scalar(name: str, fn):
    def op(tensor: te.Tensor, scalar: Scalar) -> te.Tensor:
        value = _scalar(scalar, dtype_of(tensor))
        negated = tensor.op.attrs.get(NEGATION_OF) if name == "vadds" and tensor.op.attrs else None
        if negated is not None:  # vadds(vmuls(t, -1), s) is s - t: one instruction, not two
            return _elementwise(name, (negated,), lambda a: value.astype(dtype_of(a)) - a)
        attrs = {NEGATION_OF: tensor} if name == "vmuls" and _is_minus_one(value) else None
        return _elementwise(name, (tensor,), lambda a: fn(a, value.astype(dtype_of(a))), attrs)

    op.__name__ = name
    op.__doc__ = f"Elementwise ``{name}`` of a tensor with a scalar cast to the tensor's dtype."
    return op


def _is_minus_one(value: tvm.ir.Expr) -> bool:
    return isinstance(value, (tirx.FloatImm, tirx.IntImm)) and value.value == -1


#: The ``impl_mode`` values CANN's unary ops take (``priority_flag``: its older spelling).
IMPL_MODES = ("high_performance", "high_precision", "keep_fp16", "support_out_of_bound_index")
#: CANN's older ``priority_flag`` values (given where ``impl_mode`` now stands): 1 is precision.
PRIORITY_FLAGS = {0: "high_performance", 1: "high_precision"}


def _unary(name: str, fn):
    def op(tensor: te.Tensor, impl_mode: str | None = None, priority_flag: int | None = None,
           **_unused: object) -> te.Tensor:
        if isinstance(impl_mode, (int, float)) and not isinstance(impl_mode, bool) \
                and impl_mode in PRIORITY_FLAGS:  # CANN's older positional priority_flag
            impl_mode = PRIORITY_FLAGS[impl_mode]
        if impl_mode is not None and impl_mode not in IMPL_MODES:
            raise OpError("E80000", f"tbe.dsl.{name}: the parameter[impl_mode] should be one of "
                          f"{list(IMPL_MODES)}, but actually is [{impl_mode}]",
                          param_name="impl_mode")
        return _elementwise(name, (tensor,), fn)

    op.__name__ = name
    op.__doc__ = (f"Elementwise ``{name}`` of one tensor. ``impl_mode`` and ``priority_flag`` "
                  f"choose between the NPU's fast and precise instruction sequences; the host "
                  f"computes the IEEE result (correctly rounded where the dtype's operation is) "
                  f"for every mode, so they are checked and otherwise ignored.")
    return op


#: CUDA products that round on their own: nvcc never contracts them into an FMA.
_CUDA_ROUNDED_MUL = {"float32": "__fmul_rn", "float16": "__hmul_rn", "bfloat16": "__hmul_rn"}
#: Float dtypes LLVM could contract; TVM legalises bfloat16 through float32 with an
#: integer rounding after each op, which already stops any contraction.
_LLVM_FENCED = ("float32", "float16")


def _product(lhs: tvm.ir.Expr, rhs: tvm.ir.Expr) -> tvm.ir.Expr:
    """``lhs * rhs``, rounded before any add that uses it.

    TVM turns ``a * b + c`` into ``llvm.fmuladd`` and its LLVM target fuses it
    whenever the CPU has FMA, with no option to stop it; nvcc contracts too. A
    fused multiply-add rounds once where CANN rounds twice, so the product goes
    through ``llvm.arithmetic.fence`` (free: no instruction) or ``__fmul_rn``.
    """
    dtype = dtype_of(lhs)
    if platform.backend_target() == "cuda" and dtype in _CUDA_ROUNDED_MUL:
        return tirx.call_pure_extern(dtype, _CUDA_ROUNDED_MUL[dtype], lhs, rhs)
    if dtype in _LLVM_FENCED:
        return tirx.call_llvm_pure_intrin(dtype, "llvm.arithmetic.fence", lhs * rhs)
    return lhs * rhs


vadd = _binary("vadd", lambda a, b: a + b)
vsub = _binary("vsub", lambda a, b: a - b)
vmul = _binary("vmul", _product)
vdiv = _binary("vdiv", lambda a, b: a / b)
vmax = _binary("vmax", tirx.max)
vmin = _binary("vmin", tirx.min)
vadds = _with_scalar("vadds", lambda a, s: a + s)
vmuls = _with_scalar("vmuls", _product)
vmaxs = _with_scalar("vmaxs", tirx.max)
vmins = _with_scalar("vmins", tirx.min)
vabs = _unary("vabs", tirx.abs)
vexp = _unary("vexp", tirx.exp)
vlog = _unary("vlog", tirx.log)
vrec = _unary("vrec", lambda a: tirx.const(1, dtype_of(a)) / a)
vsqrt = _unary("vsqrt", tirx.sqrt)
vrsqrt = _unary("vrsqrt", lambda a: tirx.const(1, dtype_of(a)) / tirx.sqrt(a))


#: Float ops that round in hardware and return a quiet NaN for any NaN operand, each with the
#: constants that would let LLVM drop it (``x * 1.0`` -> ``x``, ``x * -1.0`` -> ``fneg x``,
#: ``x + -0.0`` -> ``x``...), which may pass a signalling NaN through unchanged.
_ARITHMETIC = {tirx.Add: (0.0,), tirx.Sub: (0.0,), tirx.Mul: (1.0, -1.0), tirx.Div: (1.0, -1.0)}
#: Calls that only wrap a product (:func:`_product`): their NaNs are the product's.
_PRODUCT_WRAPPERS = ("llvm.arithmetic.fence", "__fmul_rn", "__hmul_rn")


def _is_arithmetic(expr) -> bool:
    """Whether every NaN the float expression ``expr`` gives is a quiet NaN.

    True for an add, subtract, multiply or divide whose operands include no constant that
    makes it an identity or a negation (LLVM keeps it as an instruction, and the hardware
    quiets NaNs), and for a product behind :func:`_product`'s fence or CUDA rounding call.
    """
    identities = next((v for k, v in _ARITHMETIC.items() if isinstance(expr, k)), None)
    if identities is not None:
        return not any(isinstance(side, (tirx.FloatImm, tirx.IntImm)) and side.value in identities
                       for side in (expr.a, expr.b))
    if isinstance(expr, tvm.ir.Call) and expr.args:
        head = expr.args[0]
        if isinstance(head, tvm.ir.StringImm):
            name = head.value
        elif isinstance(head, tirx.IntImm) and expr.op.name == "tirx.call_llvm_pure_intrin":
            name = next((n for n in _PRODUCT_WRAPPERS if n.startswith("llvm.")
                         and tvm.target.codegen.llvm_lookup_intrinsic_id(n) == head.value), "")
        else:
            name = ""
        return name in _PRODUCT_WRAPPERS and _is_arithmetic(expr.args[-1])
    return False


def _is_arithmetic_result(tensor: te.Tensor) -> bool:
    """Whether every element of ``tensor`` is computed by :func:`_is_arithmetic` (its NaNs quiet)."""
    op = tensor.op
    return isinstance(op, te.ComputeOp) and len(op.body) == 1 and _is_arithmetic(op.body[0])


def _convert(value: tvm.ir.Expr, dtype: str, quiet: bool = False) -> tvm.ir.Expr:
    """``value`` converted to ``dtype``, rounding to nearest even (float16 in software
    when the CPU cannot convert it: :func:`_soft_half`); ``quiet``: see :func:`_to_bfloat16`."""
    source = dtype_of(value)
    if dtype == "bfloat16":
        return _to_bfloat16(value, quiet)
    if source == "float16" and _soft_half():
        wide = _half_to_float(value)
        return wide if dtype == "float32" else wide.astype(dtype)
    if dtype == "float16" and source in ("float32", "bfloat16") and _soft_half():
        return _float_to_half(value if source == "float32" else value.astype("float32"))
    return value.astype(dtype)


def _soft_half() -> bool:
    """Whether float16 <-> float32 is converted with integer vector ops in TIR.

    True on x86 CPU targets without F16C (``BCE_GRAD_MCPU=x86-64``, ``x86-64-v2``):
    LLVM converts there with one ``__extendhfsf2``/``__truncsfhf2`` library call per
    element (about 40x slower). Other targets convert in hardware.
    """
    if platform.backend_target() != "llvm":
        return False
    from bce_grad.host_backend import targets

    config = targets.target_config("llvm")
    return str(config["mtriple"]).startswith("x86_64") and "f16c" not in targets.config_features(config)


def _half_to_float(value: tvm.ir.Expr) -> tvm.ir.Expr:
    """float16 -> float32 with integer ops, bit for bit as F16C's ``vcvtph2ps``.

    Normals rebias the exponent; subnormals are ``mantissa * 2**-24`` (an exact
    int -> float conversion and a power-of-two scale into float32's normal range);
    inf keeps its sign, a NaN keeps its payload and is quieted, as the hardware does.
    """
    half = tirx.reinterpret("uint16", value).astype("uint32")
    sign = (half & _u32(0x8000)) << _u32(16)
    magnitude = half & _u32(0x7FFF)
    shifted = magnitude << _u32(13)
    normal = shifted + _u32(0x38000000)  # (127 - 15) << 23
    special = shifted | tirx.Select(magnitude > _u32(0x7C00), _u32(0x7FC00000), _u32(0x7F800000))
    tiny = tirx.reinterpret("uint32", magnitude.astype("int32").astype("float32")
                            * tirx.const(2.0 ** -24, "float32"))
    bits = tirx.Select(magnitude >= _u32(0x7C00), special,
                       tirx.Select(magnitude < _u32(0x0400), tiny, normal))
    return tirx.reinterpret("float32", sign | bits)


def _float_to_half(value: tvm.ir.Expr) -> tvm.ir.Expr:
    """float32 -> float16 with integer ops, rounding to nearest even, as F16C's ``vcvtps2ph``.

    Normals round their 13 dropped bits (a carry may reach the exponent, and from
    65520 up the result is inf); results below 2**-14 are rounded by adding 0.5 in
    float32, whose ulp there is 2**-24, the float16 subnormal step; a NaN becomes a
    quiet NaN with the top of its payload and its sign.
    """
    bits = tirx.reinterpret("uint32", value)
    sign = (bits >> _u32(16)) & _u32(0x8000)
    magnitude = bits & _u32(0x7FFFFFFF)
    normal = (magnitude - _u32(0x38000000) + _u32(0x0FFF) + ((magnitude >> _u32(13)) & _u32(1))) \
        >> _u32(13)
    scaled = tirx.reinterpret("float32", magnitude) + tirx.const(0.5, "float32")
    tiny = tirx.reinterpret("uint32", scaled) - _u32(0x3F000000)
    nan = ((magnitude >> _u32(13)) & _u32(0x03FF)) | _u32(0x7E00)
    half = tirx.Select(magnitude > _u32(0x7F800000), nan,
                       tirx.Select(magnitude >= _u32(0x477FF000), _u32(0x7C00),
                                   tirx.Select(magnitude >= _u32(0x38800000), normal, tiny)))
    return tirx.reinterpret("float16", (sign | half).astype("uint16"))


def _u32(value: int) -> tvm.ir.Expr:
    return tirx.const(value, "uint32")


def _is_number(value: tvm.ir.Expr, bits: tvm.ir.Expr) -> tvm.ir.Expr:
    """Whether the float32 ``value`` (raw ``bits``) is not a NaN.

    On LLVM this is ``value == value`` (one ordered compare, ``vcmpordps`` on x86),
    with one side behind ``llvm.arithmetic.fence`` (no instruction): TVM's simplifier
    folds ``x == x`` to true, and it emits ``!=`` as LLVM's ordered ``fcmp one``, so
    neither ``x != x`` nor ``tirx.isnan`` (which also scalarises the chunk) works.
    TVM emits no fast-math flags, so LLVM keeps the compare. Other targets compare
    the magnitude's bits with infinity's.
    """
    if platform.backend_target() != "llvm":
        return (bits & _u32(0x7FFFFFFF)) <= _u32(0x7F800000)
    return tirx.EQ(value, tirx.call_llvm_pure_intrin("float32", "llvm.arithmetic.fence", value))


def _to_bfloat16(value: tvm.ir.Expr, quiet: bool = False) -> tvm.ir.Expr:
    """Round a float to bfloat16 (nearest even) in integer TIR, keeping NaNs NaN.

    TVM's own float32 -> bfloat16 lowering adds the rounding bias without a NaN
    check, so a NaN whose low bits are set (0x7fffffff) carries into the sign and
    becomes 0x8000 (-0). Here a NaN becomes the quiet NaN 0x7fc0 with its sign kept,
    as ml_dtypes and numpy give. The rounding is integer (shift, and, two adds) on the
    32-bit word, with one shift right at the end.

    NaNs are handled in one of two ways:

    * ``quiet`` (the caller knows ``value`` is an arithmetic result, whose NaNs are all
      quiet: :func:`_is_arithmetic`): two integer minimums before the rounding. A quiet NaN's
      word is at least 0x7fc00000 (positive) or 0xffc00000 (negative), and no other word
      is: ``min_signed(word, 0x7fc00000)`` turns every positive quiet NaN into 0x7fc00000 and
      leaves negative words alone; ``min_unsigned(., 0xffc00000)`` turns every negative quiet
      NaN into 0xffc00000 and leaves the rest alone. Both round to 0x7fc0 / 0xffc0.
      On AVX2 that is ``vpminsd`` + ``vpminud`` per 8 values.
    * otherwise (a signalling NaN may arrive, e.g. a plain cast of float32 data): one
      float compare (:func:`_is_number`) and a choice of ``sign | 0x7fc00000`` made on the
      32-bit word, 4 instructions per 8 values.
    """
    value = value if dtype_of(value) == "float32" else _convert(value, "float32")
    bits = tirx.reinterpret("uint32", value)
    if quiet:
        signed = tirx.Min(bits.astype("int32"), tirx.const(0x7FC00000, "int32")).astype("uint32")
        word = tirx.Min(signed, _u32(0xFFC00000))
        chosen = (word + _u32(0x7FFF) + ((word >> _u32(16)) & _u32(1))) >> _u32(16)
        return tirx.reinterpret("bfloat16", chosen.astype("uint16"))
    rounded = bits + _u32(0x7FFF) + ((bits >> _u32(16)) & _u32(1))
    quiet_nan = (bits & _u32(0x80000000)) | _u32(0x7FC00000)
    chosen = tirx.Select(_is_number(value, bits), rounded, quiet_nan) >> _u32(16)
    return tirx.reinterpret("bfloat16", chosen.astype("uint16"))


def broadcast(var: te.Tensor | Scalar, shape: Sequence[int | tvm.ir.Expr],
              output_dtype: str | None = None) -> te.Tensor:
    """Broadcast a tensor (numpy rules, dims of 1 stretch) or a scalar to ``shape``.

    Parameters
    ----------
    var : te.Tensor or scalar
        A tensor whose rank is at most ``len(shape)``, or a Python/TIR scalar.
    shape : sequence of int or tvm.ir.Expr
        The target shape.
    output_dtype : str, optional
        dtype for a scalar ``var``; defaults to a TIR scalar's own dtype (``tvm.const(1,
        "float32")`` stays float32), float32 for a Python float, int32 for a Python int.
    """
    shape = list(shape)
    if not isinstance(var, te.Tensor):
        dtype = output_dtype or (dtype_of(var) if isinstance(var, tvm.ir.Expr) else
                                 "float32" if isinstance(var, float) else "int32")
        value = _scalar(var, dtype)
        return te.compute(shape, lambda *_: value, name="broadcast", tag="broadcast")
    src = list(var.shape)
    if len(src) > len(shape):
        raise OpError("E80017", f"tbe.dsl.broadcast: the rank of the tensor {src} should not "
                      f"exceed the rank of the target shape {shape}", param_name="shape")
    pad = len(shape) - len(src)
    stretch = []
    for axis, dim in enumerate(src):
        target = shape[pad + axis]
        is_one = _const(dim) == 1
        if not is_one and _const(target) is not None and _const(dim) is not None \
                and _const(target) != _const(dim):
            raise OpError("E80017", f"tbe.dsl.broadcast: dim {axis} of {src} cannot broadcast "
                          f"to {shape}", param_name="shape")
        stretch.append(is_one and _const(target) != 1)
    if pad == 0 and not any(stretch):
        return var

    def index(*i):
        return var[tuple(0 if stretch[a] else i[pad + a] for a in range(len(src)))]

    return te.compute(shape, index, name="broadcast", tag="broadcast")


def reduce_sum(tensor: te.Tensor, axis: int | Sequence[int] | None = None,
               keepdims: bool = False) -> te.Tensor:
    """Sum ``tensor`` over ``axis`` (all axes when None), accumulating in its dtype.

    Parameters
    ----------
    tensor : te.Tensor
        The input.
    axis : int or sequence of int, optional
        Axes to reduce; negative values count from the end.
    keepdims : bool
        Keep reduced axes as dims of 1.
    """
    rank = len(tensor.shape)
    axes = list(range(rank)) if axis is None else ([axis] if isinstance(axis, int) else list(axis))
    norm = sorted({a + rank if a < 0 else a for a in axes})
    if any(a < 0 or a >= rank for a in norm):
        raise OpError("E80002", f"tbe.dsl.reduce_sum: the parameter[axis] should be in "
                      f"[{-rank}, {rank - 1}], but actually is {axes}", param_name="axis")
    raxes = {a: te.reduce_axis((0, tensor.shape[a]), name=f"k{a}") for a in norm}
    out_shape = []
    for a in range(rank):
        if a not in raxes:
            out_shape.append(tensor.shape[a])
        elif keepdims:
            out_shape.append(1)
    if not out_shape:
        out_shape = [1]

    def body(*i):
        it = iter(i)
        idx = []
        for a in range(rank):
            if a in raxes:
                if keepdims:
                    next(it)
                idx.append(raxes[a])
            else:
                idx.append(next(it))
        return te.sum(tensor[tuple(idx)], axis=list(raxes.values()))

    return te.compute(out_shape, body, name="reduce_sum", tag="reduce_sum")
