"""What the operator supports, as data: dtypes, reductions and the op info of each SoC.

This is the one table the project reads these facts from (the API, the runtime's kernel sets,
the CLI, the UT frame, the golden, the benchmark, the framework adapters and the deploy tools;
the C++ runtime and adapters through ``bce_grad_op_facts.h``, generated from it by
:mod:`bce_grad.runtime.facts_header`). The operator itself (``impl/``) keeps its own ``DTYPES``,
``REDUCTIONS`` and ``MAX_RANK``, because on CANN it ships alone, without this package; a test
checks that they equal the ones here.

The per-SoC facts come from the op info: ``op_info_cfg/ai_core/<soc>/*.ini`` is their single
source of truth. As CANN's build does, the ``.ini`` files are compiled into
``op_info_cfg/compiled/aic-<soc>-ops-info.json`` (``bce-grad opinfo --flat --out op_info_cfg/compiled``);
a test checks that the shipped JSON equals a fresh compile of the ``.ini`` files byte for byte.
A call therefore reads a little JSON, once per process and SoC, and never imports the deploy
tooling or parses ``.ini`` files.

Examples
--------
>>> supported_dtypes("ascend910b")
('float16', 'float32', 'bfloat16')
>>> normalize_reduction(1)
'mean'
"""
from __future__ import annotations

import functools
import json

from bce_grad.resources import package_dir

__all__ = [
    "OP_TYPE", "OP_NAME", "MAX_RANK", "DTYPES", "REDUCTIONS", "REDUCTION_ENUM", "CANN_DTYPES",
    "SOC_DIRS", "compiled_op_info", "compiled_dir", "soc_dir_for_short_soc", "supported_dtypes",
    "normalize_reduction", "numpy_dtype",
]

#: The operator's type name in op info, op proto and the graph.
OP_TYPE = "BinaryCrossEntropyGrad"
#: Its name in CANN's messages (``In op[binary_cross_entropy_grad], ...``) and its impl function.
OP_NAME = "binary_cross_entropy_grad"
#: The highest rank an input may have (CANN's para_check limit, which the operator checks).
MAX_RANK = 8
#: Every dtype the operator computes in (numpy-style names); a SoC offers a subset.
DTYPES = ("float16", "bfloat16", "float32")
#: Values of the ``reduction`` attr. The op info only says ``attr_reduction.value=all``; the
#: op's contract restricts it to these.
REDUCTIONS = ("none", "mean", "sum")
#: aclnn's reduction enum (``aclnnBinaryCrossEntropyBackward``): value -> name.
REDUCTION_ENUM = {0: "none", 1: "mean", 2: "sum"}
#: CANN's op info dtype names, mapped to numpy-style names.
CANN_DTYPES = {
    "float16": "float16", "float": "float32", "float32": "float32", "double": "float64",
    "bfloat16": "bfloat16", "int8": "int8", "int16": "int16", "int32": "int32",
    "int64": "int64", "uint8": "uint8", "uint16": "uint16", "uint32": "uint32",
    "uint64": "uint64", "bool": "bool", "complex64": "complex64", "complex128": "complex128",
}

_PREFIX, _SUFFIX = "aic-", "-ops-info.json"


def compiled_dir():
    """``op_info_cfg/compiled``, found through the import system (package data when installed)."""
    return package_dir("bce_grad.op_info_cfg") / "compiled"


def _list_soc_dirs() -> tuple[str, ...]:
    folder = compiled_dir()
    if not folder.is_dir():
        return ()
    return tuple(sorted(p.name[len(_PREFIX):-len(_SUFFIX)] for p in folder.glob(f"{_PREFIX}*{_SUFFIX}")))


#: SoC directory names (``ascend910b``, ...) whose op info offers the operator.
SOC_DIRS: tuple[str, ...] = _list_soc_dirs()


def soc_dir_for_short_soc(short_soc: str) -> str:
    """Map a short SoC version (``"Ascend910B"``) to its op info directory (``"ascend910b"``).

    The directory need not exist; check membership in :data:`SOC_DIRS` where it matters.
    """
    return short_soc.lower()


@functools.lru_cache(maxsize=None)
def compiled_op_info(soc_dir: str) -> dict:
    """The compiled op info of one SoC directory (``aic-<soc>-ops-info.json``), read once.

    Raises
    ------
    FileNotFoundError
        When ``soc_dir`` is not one of :data:`SOC_DIRS`.
    """
    path = compiled_dir() / f"{_PREFIX}{soc_dir}{_SUFFIX}"
    return json.loads(path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=None)
def supported_dtypes(soc_dir: str, param: str = "x") -> tuple[str, ...]:
    """The numpy-style dtypes (``float16``, ``float32``, ``bfloat16``) of one parameter.

    Parameters
    ----------
    soc_dir : str
        A directory name from :data:`SOC_DIRS`.
    param : str
        An input or output name, e.g. ``"x"`` or ``"output"``.

    Returns
    -------
    tuple of str
        De-duplicated, in op info order; ``float`` is reported as ``float32``.

    Raises
    ------
    ValueError
        When ``param`` is not an input or output of the operator.
    """
    info = compiled_op_info(soc_dir)[OP_TYPE]
    for key, group in info.items():
        if key.startswith(("input", "output")) and group.get("name") == param:
            return tuple(dict.fromkeys(CANN_DTYPES[d] for d in group["dtype"].split(",")))
    names = [g["name"] for k, g in info.items() if k.startswith(("input", "output"))]
    raise ValueError(f"param={param!r} is not an input or output of {OP_TYPE} on {soc_dir}; "
                     f"expected one of {', '.join(names)}")


def normalize_reduction(reduction: object) -> str:
    """The reduction's name for a name or aclnn's enum value (``1`` -> ``"mean"``): the one rule
    every entry point applies (the API, the native runtime's binding, the adapters).

    Raises
    ------
    OpTypeError
        E80009 when ``reduction`` is neither a str nor an int (a bool is neither).
    OpValueError
        E80009 (:data:`bce_grad.op_messages.REDUCTION`) naming the names, the enum and the value.
    """
    if isinstance(reduction, str):
        if reduction in REDUCTIONS:
            return reduction
    elif isinstance(reduction, bool) or not hasattr(reduction, "__index__"):
        from bce_grad.host_backend.errors import OpTypeError

        raise OpTypeError("E80009", f"the parameter[reduction] should be a str or an int, but "
                          f"actually is of type [{type(reduction).__name__}]", OP_NAME, "reduction")
    elif reduction.__index__() in REDUCTION_ENUM:
        return REDUCTION_ENUM[reduction.__index__()]
    from bce_grad.host_backend.errors import OpValueError
    from bce_grad.op_messages import REDUCTION

    raise OpValueError(REDUCTION.code, REDUCTION.text(
        names=list(REDUCTIONS), values=sorted(REDUCTION_ENUM), value=repr(reduction)),
        OP_NAME, "reduction")


def numpy_dtype(name: str):
    """The numpy dtype of a dtype name: ``float16``, ``float32``, ``bfloat16`` (``ml_dtypes``).

    Raises
    ------
    ValueError
        When ``name`` is not one of :data:`DTYPES`.
    """
    import numpy as np

    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    if name in DTYPES:
        return np.dtype(name)
    raise ValueError(f"dtype must be one of {list(DTYPES)}, but is {name!r}")
