"""tbe.dsl conversions: ``cast_to`` between every DSL dtype, and float -> int rounding.

CANN's rules (``tbe.dsl.cast_to``, ``round``, ``floor``, ``ceil``, ``trunc``,
``round_half_up``), as its vector convert instruction (``vconv``) applies them:

* float -> float: round to nearest even (:func:`bce_grad.host_backend.dsl.ops._convert`).
* float -> integer in ``cast_to``: toward zero (CANN picks the ``z`` mode of ``vconv``,
  "TF uses trunc"); ``round`` is to nearest even (``r``), ``round_half_up`` to nearest
  with ties away from zero (``a``), ``floor`` (``f``), ``ceil`` (``c``), ``trunc`` (``z``).
  The result saturates at the integer dtype's range, as CANN's TIK documentation says for
  ``vec_conv``. float32 -> int8/uint8 goes through float16 first (one more rounding), the
  path CANN's ``_cast`` takes where no direct conversion exists.
* ``cast_to(float16, int8/uint8, f1628IntegerFlag=False)`` subtracts 0.5 first, as CANN does.
* integer -> float: to nearest even (through float32 for float16 and bfloat16, as CANN's
  ``s322f32`` + ``f322f16``); integer -> integer: saturating; bool is 0 or 1.

Not knowable from public material: what ``vconv`` gives for a NaN input to an integer
dtype (the host gives 0), and whether a narrowing integer conversion saturates or wraps
(the host saturates).
"""
from __future__ import annotations

from tvm import te, tirx

from bce_grad.host_backend.dsl.ops import (_check_tensor, _convert, _is_arithmetic_result,
                                           _is_number, dtype_of)
from bce_grad.host_backend.errors import OpError

FLOAT_DTYPES = ("float16", "bfloat16", "float32")
INT_DTYPES = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64")
#: Every dtype ``cast_to`` converts between.
CAST_DTYPES = FLOAT_DTYPES + INT_DTYPES + ("bool",)
def _half_away(value):
    """To nearest, ties away from zero: exact (``value - trunc(value)`` needs no rounding)."""
    whole = tirx.trunc(value)
    one = tirx.const(1.0, dtype_of(value))
    half = tirx.const(0.5, dtype_of(value))
    step = tirx.Select(value < tirx.const(0.0, dtype_of(value)), -one, one)
    return tirx.Select(tirx.abs(value - whole) >= half, whole + step, whole)


#: The rounding modes of the float -> integer conversions, by CANN's ``vconv`` letter
#: (TVM's ``round`` is to nearest even, the same as ``nearbyint``).
ROUNDINGS = {"r": tirx.nearbyint, "a": _half_away, "f": tirx.floor, "c": tirx.ceil,
             "z": tirx.trunc}


def _check_dtype(api: str, dtype: str, allowed) -> None:
    if dtype not in allowed:
        raise OpError("E80008", f"tbe.dsl.{api}: the parameter[dtype] should be one of "
                      f"{list(allowed)}, but actually is [{dtype}]", param_name="dtype")


def _int_range(dtype: str) -> tuple[int, int]:
    bits = int("".join(ch for ch in dtype if ch.isdigit()))
    if dtype.startswith("u"):
        return 0, 2 ** bits - 1
    return -2 ** (bits - 1), 2 ** (bits - 1) - 1


def float_to_int(value, dtype: str, mode: str):
    """A float expression rounded by ``mode`` (:data:`ROUNDINGS`) into integer ``dtype``.

    Computes in float32 (float16 and bfloat16 widen exactly), saturates at ``dtype``'s range;
    a NaN becomes 0.
    """
    wide = value if dtype_of(value) == "float32" else _convert(value, "float32")
    rounded = ROUNDINGS[mode](wide)
    low, high = _int_range(dtype)
    # the float32 bounds are powers of two (exact); anything at or past them saturates
    above = tirx.const(float(high + 1), "float32")
    inside = rounded.astype(dtype)
    result = tirx.Select(rounded >= above, tirx.const(high, dtype),
                         tirx.Select(rounded <= tirx.const(float(low), "float32"),
                                     tirx.const(low, dtype), inside))
    bits = tirx.reinterpret("uint32", wide)
    return tirx.Select(_is_number(wide, bits), result, tirx.const(0, dtype))


def _int_to_int(value, dtype: str):
    source = dtype_of(value)
    low, high = _int_range(dtype)
    src_low, src_high = _int_range(source)
    if src_low >= low and src_high <= high:
        return value.astype(dtype)
    wide = value.astype("int64") if source != "uint64" else value
    clipped = tirx.max(tirx.min(wide, tirx.const(high, "int64")), tirx.const(low, "int64"))
    return clipped.astype(dtype)


def convert(value, dtype: str, quiet: bool = False, mode: str = "z"):
    """``value`` (a TIR expression) converted to ``dtype`` by CANN's rules (module doc)."""
    source = dtype_of(value)
    if source == dtype:
        return value
    if source == "bool":
        value = tirx.Select(value, tirx.const(1, "int32"), tirx.const(0, "int32"))
        source = "int32"
        if dtype == "int32":
            return value
    if dtype == "bool":
        return value != tirx.const(0, source)
    if source in FLOAT_DTYPES and dtype in FLOAT_DTYPES:
        return _convert(value, dtype, quiet)
    if source in FLOAT_DTYPES:
        if source == "float32" and dtype in ("int8", "uint8"):
            value = _convert(value, "float16")  # CANN: float32 -> float16 -> int8
        return float_to_int(value, dtype, mode)
    if dtype in FLOAT_DTYPES:
        wide = value.astype("float32")
        return wide if dtype == "float32" else _convert(wide, dtype)
    return _int_to_int(value, dtype)


def cast_to(tensor: te.Tensor, dtype: str, f1628IntegerFlag: bool = True) -> te.Tensor:  # noqa: N803
    """Cast ``tensor`` to ``dtype`` by CANN's rules (see the module).

    Parameters
    ----------
    tensor : te.Tensor
        The input.
    dtype : str
        One of :data:`CAST_DTYPES`.
    f1628IntegerFlag : bool
        For float16 -> int8/uint8: False says the data may hold fractions, and 0.5 is
        subtracted before the conversion, as CANN does. Other casts ignore it.
    """
    _check_dtype("cast_to", dtype, CAST_DTYPES)
    _check_tensor("cast_to", "raw_tensor", tensor)
    source = dtype_of(tensor)
    _check_dtype("cast_to", source, CAST_DTYPES)
    if source == dtype:
        return tensor
    quiet = dtype == "bfloat16" and _is_arithmetic_result(tensor)
    if source == "float16" and dtype in ("int8", "uint8") and not f1628IntegerFlag:
        half = tirx.const(-0.5, "float16")
        return te.compute(tensor.shape, lambda *i: convert(tensor[i] + half, dtype),
                          name="cast_to", tag="elewise_cast_to")
    return te.compute(tensor.shape, lambda *i: convert(tensor[i], dtype, quiet), name="cast_to",
                      tag="elewise_cast_to")


def _rounding(name: str, mode: str):
    def op(raw_tensor: te.Tensor, dst_dtype: str = "int32") -> te.Tensor:
        _check_tensor(name, "raw_tensor", raw_tensor)
        _check_dtype(name, dtype_of(raw_tensor), FLOAT_DTYPES + INT_DTYPES)
        _check_dtype(name, dst_dtype, INT_DTYPES + FLOAT_DTYPES)
        if dtype_of(raw_tensor) in INT_DTYPES:  # integers are whole already (canndev's Abs)
            return te.compute(raw_tensor.shape, lambda *i: convert(raw_tensor[i], dst_dtype),
                              name=name, tag=f"elewise_single_{name}")
        if dst_dtype in FLOAT_DTYPES:  # rounded, kept as a float
            def rounded(value):
                wide = value if dtype_of(value) == "float32" else _convert(value, "float32")
                result = ROUNDINGS[mode](wide)
                return result if dst_dtype == "float32" else _convert(result, dst_dtype)

            return te.compute(raw_tensor.shape, lambda *i: rounded(raw_tensor[i]), name=name,
                              tag=f"elewise_single_{name}")
        return te.compute(raw_tensor.shape, lambda *i: float_to_int(raw_tensor[i], dst_dtype,
                                                                    mode),
                          name=name, tag=f"elewise_single_{name}")

    op.__name__ = name
    op.__doc__ = (f"``{name}``: each element rounded ({mode!r} mode of CANN's vconv) into "
                  f"``dst_dtype`` (default int32), saturating; a NaN gives 0.")
    return op


round = _rounding("round", "r")  # noqa: A001 - CANN's name
floor = _rounding("floor", "f")
ceil = _rounding("ceil", "c")
trunc = _rounding("trunc", "z")
round_half_up = _rounding("round_half_up", "a")
round_d = round_half_up  # CANN's expired name of round_half_up
