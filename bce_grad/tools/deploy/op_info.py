"""The operator's op info per SoC: parse, validate and query ``op_info_cfg/ai_core``.

``op_info_cfg/ai_core/<soc>/*.ini`` is the single source of truth for the dtypes,
formats, attributes and flags of ``BinaryCrossEntropyGrad`` on each SoC. Everything
else (the OPP's ``aic-<soc>-ops-info.json``, framework registration, dtype checks, test
grids) derives from what :func:`load_op_info` returns.

Examples
--------
>>> supported_dtypes("ascend910b")
('float16', 'float32', 'bfloat16')
>>> soc_dir_for_short_soc("Ascend910_93")
'ascend910_93'
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from bce_grad.host_backend.errors import OpError
from bce_grad.op_support import CANN_DTYPES, OP_TYPE, REDUCTIONS, soc_dir_for_short_soc
from bce_grad.resources import op_info_dir
from bce_grad.tools.deploy.ini_parser import OpInfoError, ParsedIni, parse_ini_files

__all__ = [
    "OP_TYPE", "REDUCTIONS", "OpInfoError", "OP_INFO_DIR", "SOC_DIRS",
    "load_op_info", "parse_op_info_files", "supported_dtypes", "soc_dir_for_short_soc",
    "op_info_json", "io_params", "dtype_columns",
]

#: ``op_info_cfg/ai_core``, found through the import system (package data when installed).
OP_INFO_DIR = op_info_dir()

#: paramType values CANN accepts for inputs and outputs.
IO_PARAM_TYPES = ("required", "optional", "dynamic")
#: paramType values for attributes.
ATTR_PARAM_TYPES = ("required", "optional")
#: CANN's op info dtype names, mapped to numpy-style names (``bce_grad.op_support``).
INI_DTYPES = CANN_DTYPES
#: CANN's op info format names.
INI_FORMATS = (
    "ND", "NCHW", "NHWC", "HWCN", "CHWN", "NC1HWC0", "NC1HWC0_C04", "C1HWNCoC0",
    "FRACTAL_Z", "FRACTAL_Z_C04", "FRACTAL_NZ", "NDHWC", "NCDHW", "DHWCN", "DHWNC",
    "NDC1HWC0", "FRACTAL_Z_3D", "FRACTAL_Z_3D_TRANSPOSE",
)
_LIST_KEYS = ("dtype", "format", "unknownshape_format")
_IO_KEY = re.compile(r"(input|output)(\d+)")


def _list_soc_dirs() -> tuple[str, ...]:
    """The SoC directories under ``op_info_cfg/ai_core`` that hold ``.ini`` files."""
    if not OP_INFO_DIR.is_dir():
        return ()
    return tuple(sorted(d.name for d in OP_INFO_DIR.iterdir() if d.is_dir() and any(d.glob("*.ini"))))


#: SoC directory names (``ascend910b``, ...), listed from ``op_info_cfg/ai_core/``.
SOC_DIRS: tuple[str, ...] = _list_soc_dirs()


def _is_io(key1: str) -> bool:
    """Whether ``key1`` is an ``inputN``/``outputN`` group."""
    return _IO_KEY.fullmatch(key1) is not None


def _io_order(key1: str) -> tuple[bool, int]:
    """Sort key: inputs before outputs, then by index."""
    match = _IO_KEY.fullmatch(key1)
    return match.group(1) == "output", int(match.group(2))


def _fail(parsed: ParsedIni, op: str, key1: str, key2: str | None, rule: str, detail: str) -> None:
    """Raise :class:`OpInfoError` at the line of ``key1.key2`` (or its group)."""
    path, line = parsed.where(op, key1, key2)
    raise OpInfoError(path, line, rule, f"[{op}] {detail}")


def _check_io(parsed: ParsedIni, op: str, key1: str, group: dict[str, str]) -> None:
    """Check one input/output: name, paramType, dtype and format names, list lengths."""
    for required in ("name", "paramType"):
        if required not in group:
            _fail(parsed, op, key1, None, f"missing {required}", f"{key1} has no {key1}.{required}")
    if group["paramType"] not in IO_PARAM_TYPES:
        _fail(parsed, op, key1, "paramType", "unknown paramType",
              f"{key1}.paramType={group['paramType']!r}; expected one of {', '.join(IO_PARAM_TYPES)}")
    lengths = {key: len(group[key].split(",")) for key in _LIST_KEYS if key in group}
    if len(set(lengths.values())) > 1:
        found = ", ".join(f"{key1}.{key} has {n}" for key, n in lengths.items())
        _fail(parsed, op, key1, next(iter(lengths)), "list length mismatch",
              f"dtype/format lists must be position-aligned: {found} items")
    dtypes = group["dtype"].split(",") if "dtype" in group else []
    for item in dtypes:
        if item not in INI_DTYPES:
            _fail(parsed, op, key1, "dtype", "unknown dtype",
                  f"{key1}.dtype has {item!r}; expected one of {', '.join(INI_DTYPES)}")
    for key in ("format", "unknownshape_format"):
        formats = group[key].split(",") if key in group else []
        for item in formats:
            if item not in INI_FORMATS:
                _fail(parsed, op, key1, key, "unknown format",
                      f"{key1}.{key} has {item!r}; expected one of {', '.join(INI_FORMATS)}")


def _check_columns(parsed: ParsedIni, op: str, info: dict[str, dict[str, str]]) -> None:
    """All inputs and outputs must list the same number of dtype/format columns."""
    counts = {k1: len(g["dtype"].split(",")) for k1, g in info.items() if _is_io(k1) and "dtype" in g}
    if len(set(counts.values())) <= 1:
        return
    first = next(iter(counts))
    odd = next(k1 for k1, n in counts.items() if n != counts[first])
    _fail(parsed, op, odd, "dtype", "list length mismatch",
          f"{odd}.dtype has {counts[odd]} items but {first}.dtype has {counts[first]}; "
          "the columns of all inputs and outputs are position-aligned")


def _check_attrs(parsed: ParsedIni, op: str, info: dict[str, dict[str, str]]) -> None:
    """Every name in ``attr.list`` needs an ``attr_<name>`` group, and vice versa."""
    listed = [n for n in info.get("attr", {}).get("list", "").split(",") if n]
    for name in listed:
        group = info.get(f"attr_{name}")
        if group is None:
            _fail(parsed, op, "attr", "list", "attr without description",
                  f"attr.list names {name!r} but there is no attr_{name}.* description")
        for required in ("type", "paramType"):
            if required not in group:
                _fail(parsed, op, f"attr_{name}", None, f"missing {required}",
                      f"attr_{name} has no attr_{name}.{required}")
        if group["paramType"] not in ATTR_PARAM_TYPES:
            _fail(parsed, op, f"attr_{name}", "paramType", "unknown paramType",
                  f"attr_{name}.paramType={group['paramType']!r}; expected one of "
                  f"{', '.join(ATTR_PARAM_TYPES)}")
    for key1 in info:
        if key1.startswith("attr_") and key1[len("attr_"):] not in listed:
            _fail(parsed, op, key1, None, "attr not listed",
                  f"{key1} describes an attr missing from attr.list={','.join(listed)!r}")


def validate(parsed: ParsedIni) -> dict[str, dict[str, dict[str, str]]]:
    """Check every op of ``parsed`` and return its JSON-like dict."""
    for op, info in parsed.ops.items():
        for key1, group in info.items():
            if _is_io(key1):
                _check_io(parsed, op, key1, group)
        _check_columns(parsed, op, info)
        _check_attrs(parsed, op, info)
    return parsed.ops


def parse_op_info_files(paths: list[Path]) -> dict[str, dict[str, dict[str, str]]]:
    """Parse and validate op info ``.ini`` files (merged, as CANN merges one SoC dir).

    Raises
    ------
    OpInfoError
        With ``path:line``, the rule and the value, for any parse or validation fault.
    """
    return validate(parse_ini_files([Path(p) for p in paths]))


def load_op_info(soc_dir: str) -> dict[str, dict[str, dict[str, str]]]:
    """Return the parsed op info of one SoC: ``{"BinaryCrossEntropyGrad": {...}}``.

    Parameters
    ----------
    soc_dir : str
        A directory name from :data:`SOC_DIRS`, e.g. ``"ascend910b"``.

    Raises
    ------
    OpError
        If ``soc_dir`` is unknown (code E80000).
    OpInfoError
        If its ``.ini`` content is invalid.
    """
    if soc_dir not in SOC_DIRS:
        raise OpError("E80000", f"soc_dir={soc_dir!r} has no op info in {OP_INFO_DIR}; "
                      f"expected one of {', '.join(SOC_DIRS)}", OP_TYPE, "soc_dir")
    return parse_op_info_files(sorted((OP_INFO_DIR / soc_dir).glob("*.ini")))


def op_info_json(op_info: dict) -> str:
    """Serialise op info as CANN writes ``aic-<soc>-ops-info.json``."""
    return json.dumps(op_info, sort_keys=True, indent=4, separators=(",", ":"))


def io_params(soc_dir: str, op_type: str = OP_TYPE) -> list[tuple[str, str, dict[str, str]]]:
    """Inputs then outputs of one op, in index order, as ``(key1, name, group)``."""
    info = load_op_info(soc_dir)[op_type]
    ios = [k for k in info if _is_io(k)]
    ios.sort(key=_io_order)
    return [(k, info[k]["name"], info[k]) for k in ios]


def dtype_columns(soc_dir: str, op_type: str = OP_TYPE) -> list[list[tuple[str, str]]]:
    """Position-aligned ``(numpy dtype, format)`` columns, one entry per input/output."""
    params = io_params(soc_dir, op_type)
    width = len(params[0][2]["dtype"].split(","))
    return [
        [(INI_DTYPES[g["dtype"].split(",")[i]], g["format"].split(",")[i]) for _, _, g in params]
        for i in range(width)
    ]


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
        De-duplicated, in ``.ini`` order; ``float`` is reported as ``float32``.
    """
    params = io_params(soc_dir)
    by_name = {name: group for _, name, group in params}
    if param not in by_name:
        raise OpError("E80000", f"param={param!r} is not an input or output on {soc_dir}; "
                      f"expected one of {', '.join(by_name)}", OP_TYPE, "param")
    names = [INI_DTYPES[d] for d in by_name[param]["dtype"].split(",")]
    return tuple(dict.fromkeys(names))
