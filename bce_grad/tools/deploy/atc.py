"""The single-op JSON that ``atc --singleop=FILE --soc_version=SOC`` compiles.

Format (Ascend samples' ``add_op.json``): a list of ops, each
``{"op", "input_desc": [{"format", "shape", "type"}], "output_desc": [...], "attr": [...]}``.
Dtypes are checked against the op info of the chosen SoC, so a dtype the SoC's ``.ini``
does not list is rejected here instead of deep inside ATC.
"""
from __future__ import annotations

from bce_grad.host_backend.errors import OpError
from bce_grad.host_backend.soc_table import short_soc_version
from bce_grad.tools.deploy.op_info import (
    INI_DTYPES, OP_TYPE, REDUCTIONS, SOC_DIRS, dtype_columns, io_params, load_op_info,
    soc_dir_for_short_soc, supported_dtypes,
)

#: numpy-style dtype -> the type name written into the single-op JSON (CANN's ini names).
_JSON_TYPES = {"float16": "float16", "float32": "float", "bfloat16": "bfloat16"}


def soc_dir_for(soc_version: str) -> str:
    """Map a full (``Ascend910B1``) or short (``Ascend910B``) SoC to its op info dir.

    Raises
    ------
    OpError
        E80000 when the SoC is unknown or the op has no op info for it.
    """
    soc_dir = soc_dir_for_short_soc(short_soc_version(soc_version))
    if soc_dir not in SOC_DIRS:
        raise OpError("E80000", f"the parameter[soc] is {soc_version!r}, whose op info dir "
                      f"{soc_dir!r} does not exist; supported: {', '.join(SOC_DIRS)}",
                      OP_TYPE, "soc")
    return soc_dir


def normalize_dtype(dtype: str) -> str:
    """Accept numpy (``float32``) or CANN (``float``) names; return the numpy name."""
    if dtype not in INI_DTYPES:
        raise OpError("E80008", f"the parameter[dtype] is {dtype!r}; expected one of "
                      f"{', '.join(_JSON_TYPES)}", OP_TYPE, "dtype")
    return INI_DTYPES[dtype]


def parse_shape(text: str) -> list[int]:
    """Parse ``"2,3,4"`` (or ``""`` for a scalar) into a list of non-negative ints."""
    items = [item.strip() for item in text.split(",")] if text.strip() else []
    if not all(item.isdigit() for item in items):
        raise OpError("E80000", f"the parameter[shape] is {text!r}; expected comma-separated "
                      "non-negative ints such as 2,3,4", OP_TYPE, "shape")
    return [int(item) for item in items]


def single_op_json(shape: list[int], dtype: str, reduction: str = "mean",
                   with_weight: bool = True, soc: str = "Ascend910B1") -> list[dict]:
    """Build the ``atc --singleop`` description of one BinaryCrossEntropyGrad call.

    Parameters
    ----------
    shape : list of int
        The shape of x; y, grad_output, weight and output take the same shape.
    dtype : str
        ``float16``, ``float32`` (or ``float``) or ``bfloat16``; must be listed in the
        SoC's op info.
    reduction : str
        One of :data:`~bce_grad.tools.deploy.op_info.REDUCTIONS`.
    with_weight : bool
        Whether to pass the optional input ``weight``. When False it is left out; it is
        the last input, so the others keep their positions.
    soc : str
        Full or short SoC version.

    Returns
    -------
    list of dict
        One op, ready for ``json.dump``.
    """
    if reduction not in REDUCTIONS:
        raise OpError("E80000", f"the parameter[reduction] is {reduction!r}; expected one of "
                      f"{', '.join(REDUCTIONS)}", OP_TYPE, "reduction")
    soc_dir = soc_dir_for(soc)
    dtype = normalize_dtype(dtype)
    allowed = supported_dtypes(soc_dir, "x")
    if dtype not in allowed:
        raise OpError("E80008", f"the parameter[dtype] is {dtype!r}, which op_info_cfg/ai_core/"
                      f"{soc_dir} does not list for {soc}; allowed: {', '.join(allowed)}",
                      OP_TYPE, "dtype")
    column = next(col for col in dtype_columns(soc_dir) if col[0][0] == dtype)
    descs = {"input": [], "output": []}
    for (key1, _, group), (io_dtype, io_format) in zip(io_params(soc_dir), column):
        if group["paramType"] == "optional" and not with_weight:
            continue
        kind = "output" if key1.startswith("output") else "input"
        descs[kind].append({"format": io_format, "shape": list(shape),
                            "type": _JSON_TYPES[io_dtype]})
    attrs = load_op_info(soc_dir)[OP_TYPE]["attr"]["list"].split(",")
    return [{
        "op": OP_TYPE,
        "input_desc": descs["input"],
        "output_desc": descs["output"],
        "attr": [{"name": name, "type": "string", "value": reduction} for name in attrs],
    }]
