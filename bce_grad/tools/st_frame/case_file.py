"""Read an msopst ST case file and expand it into sub-cases, as msopst's cross design does.

Per tensor, the alternatives of its fields are crossed (inputs: ``format``, ``shape``,
``type``, ``data_distribute``, ``value_range``; outputs: ``format``, ``shape``, ``type``);
sub-case *i* takes combination *i* of every tensor, so every tensor must have the same
number of combinations. Sub-cases are named ``<case>_case_001_<FORMAT>_<type>``, or
``<case>_sub_case_001_...`` when a field lists alternatives (from the first output).
A tensor with a -1 or -2 dim runs at the first entry of its ``typical_shape`` (a list
of shapes). Errors are raised at load time with msopst's wording and the file's path.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

REQUIRED_KEYS = ("op", "input_desc", "output_desc", "case_name")
ATTR_REQUIRED_KEYS = ("name", "type", "value")
#: msopst's attribute types (``OP_ATTR_TYPE_MAP``'s keys).
ATTR_TYPES = ("int", "float", "bool", "string", "data_type", "list_int", "list_float",
              "list_bool", "list_string", "list_list_int")
INPUT_CROSS = ("format", "shape", "type", "data_distribute", "value_range")
OUTPUT_CROSS = ("format", "shape", "type")
ABSENT_FORMATS = ("RESERVED", "UNDEFINED")
DEFAULTS = {"data_distribute": ["uniform"], "value_range": [[0.1, 1.0]]}
DYNAMIC_DIMS = (-1, -2)


class CaseFileError(RuntimeError):
    """A case file breaks msopst's format; the message follows msopst's wording."""


@dataclass
class SubCase:
    """One concrete case: tensor descriptions with one alternative per field."""

    case_name: str
    op: str
    inputs: list[dict | None]
    outputs: list[dict]
    attrs: dict[str, Any]
    expect: str
    calc_expect_func_file: str | None
    source: dict = field(default_factory=dict)


def _missing(obj: dict, keys: Sequence, tensor: str, path: Path) -> None:
    missing = [k for k in keys if k not in obj]
    if missing:
        raise CaseFileError(f'The "{tensor}" is missing key: {missing}. Please modify it in '
                            f'file {path}.')


def _listed(value: Any, nested: bool) -> list:
    """A field's alternatives: shape and value_range are lists of lists."""
    if nested:
        return value if isinstance(value, list) and value and all(
            isinstance(v, list) for v in value) else [value]
    return value if isinstance(value, list) else [value]


def _check_tensor(desc: Any, kind: str, path: Path) -> None:
    if not isinstance(desc, dict):
        raise CaseFileError(f'The value ({desc}) of "{kind}" is not a dict. Please modify it in '
                            f'file {path}.')
    for key in ("format", "type", "shape"):
        if key not in desc:
            raise CaseFileError(f'There is no key "{key}" for "{kind}". Please modify it in '
                                f'file {path}.')
    shapes = _listed(desc["shape"], True)
    if any(d in DYNAMIC_DIMS for s in shapes for d in s) and desc.get("typical_shape") is None:
        raise CaseFileError(f'Please add "typical_shape" filed in {path} used for executing the '
                            f'operator in dynamic shape scenarios.')


def _check_case(case: Any, path: Path) -> None:
    if not isinstance(case, dict):
        raise CaseFileError(f'The case ({case}) is not a dict. Please modify it in file {path}.')
    _missing(case, REQUIRED_KEYS, "case", path)
    for kind in ("input_desc", "output_desc"):
        if not isinstance(case[kind], list):
            raise CaseFileError(f'The value ({case[kind]}) of "{kind}" is not list. Please '
                                f'modify it in file {path}.')
        for desc in case[kind]:
            _check_tensor(desc, kind, path)
    attrs = case.get("attr", [])
    if not isinstance(attrs, list):
        raise CaseFileError(f'The value ({attrs}) of "attr" is not list. Please modify it in '
                            f'file {path}.')
    names = set()
    for attr in attrs:
        _missing(attr, ATTR_REQUIRED_KEYS, "attr", path)
        if attr["name"] in names:
            raise CaseFileError(f"The {attr['name']} already exists. Please modify or remove the "
                                f"redundant key in file {path}.")
        names.add(attr["name"])
        if attr["type"] not in ATTR_TYPES:
            raise CaseFileError(f'The value({attr["type"]}) of "type" does not support. Only '
                                f'supports {list(ATTR_TYPES)}. Please modify it in file {path}.')
    func_file = case.get("calc_expect_func_file")
    if func_file is not None and (not isinstance(func_file, str) or func_file.count(":") != 1):
        raise CaseFileError(f'The value ({func_file}) of "calc_expect_func_file" should be '
                            f'"file.py:function". Please modify it in file {path}.')


def load_case_file(path: str | Path) -> list[dict]:
    """Parse and check a case file; raise :class:`CaseFileError` naming the file and key."""
    path = Path(path)
    if not path.is_file():
        raise CaseFileError(f"The path {path} does not exist. Please check the path.")
    try:
        cases = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CaseFileError(f"Failed to load json file {path}. {err}") from None
    if not isinstance(cases, list):
        raise CaseFileError(f"The case file {path} should hold a JSON list of cases, but holds "
                            f"a {type(cases).__name__}.")
    seen = set()
    for case in cases:
        _check_case(case, path)
        if case["case_name"] in seen:
            raise CaseFileError(f'The case name "{case["case_name"]}" already exists. Please '
                                f'modify or remove the redundant case name in file {path}.')
        seen.add(case["case_name"])
    return cases


def _combinations(desc: dict, keys: Sequence[str]) -> list[dict]:
    """Every combination of one tensor's field alternatives, in msopst's order."""
    full = {**{k: v for k, v in DEFAULTS.items() if k in keys}, **desc}
    lists = [_listed(full[k], k in ("shape", "value_range")) for k in keys]
    combos = []
    for combo in itertools.product(*lists):
        picked = {**desc, **dict(zip(keys, combo))}
        if any(d in DYNAMIC_DIMS for d in picked["shape"]):
            typical = desc["typical_shape"]
            picked["typical_shape"] = typical[0] if typical and isinstance(typical[0], list) \
                else typical
        combos.append(picked)
    return combos


def expand_case(case: dict, path: Path) -> list[SubCase]:
    """The sub-cases of one case, named as msopst names them."""
    inputs = [_combinations(d, INPUT_CROSS) for d in case["input_desc"]]
    outputs = [_combinations(d, OUTPUT_CROSS) for d in case["output_desc"]]
    counts = {len(c) for c in inputs + outputs} - {1}
    if len(counts) > 1:
        raise CaseFileError(f'The number of combinations of the inputs must be consistent with '
                            f'the outputs in {path}: case "{case["case_name"]}" has '
                            f'{sorted(counts)}. Please modify.')
    count = counts.pop() if counts else 1
    multi = any(len(_listed(d.get(k, DEFAULTS.get(k, [None])), k in ("shape", "value_range"))) > 1
                for d in case["input_desc"] for k in INPUT_CROSS) or any(
        len(_listed(d[k], k == "shape")) > 1 for d in case["output_desc"] for k in OUTPUT_CROSS)
    prefix = f"{case['case_name'].replace('/', '_')}_{'sub_case_' if multi else 'case_'}"
    attrs = {a["name"]: a["value"] for a in case.get("attr", [])}
    subs = []
    for index in range(count):
        ins = [c[index if len(c) > 1 else 0] for c in inputs]
        outs = [c[index if len(c) > 1 else 0] for c in outputs]
        first = outs[0] if outs else {"format": "", "type": ""}
        name = f"{prefix}{index + 1:03d}_{first['format']}_{first['type']}"
        subs.append(SubCase(name, case["op"],
                            [None if d["format"] in ABSENT_FORMATS else d for d in ins], outs,
                            attrs, case.get("expect", "success"),
                            case.get("calc_expect_func_file"), case))
    return subs
