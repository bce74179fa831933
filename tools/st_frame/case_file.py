"""Read an msopst ST case file and expand it into sub-cases.

Each ``input_desc`` field (``format``, ``shape``, ``type``, ``data_distribute``,
``value_range``) may list alternatives. Alternatives of one field are taken
index by index across the inputs (and the outputs' ``type``/``shape``), and the
fields are crossed, as msopst's orthogonal design does.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REQUIRED_KEYS = ("op", "input_desc", "output_desc", "case_name")
CROSSED_FIELDS = ("format", "shape", "type", "data_distribute", "value_range")
ABSENT_FORMATS = ("RESERVED", "UNDEFINED")
DEFAULTS = {"data_distribute": "uniform", "value_range": [0.1, 1.0]}


class CaseFileError(RuntimeError):
    """A case file breaks msopst's format; the message names the file and the key."""


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


def _fail(path: Path, where: str, key: str, rule: str) -> None:
    raise CaseFileError(f"case file [{path}]: {where}: the key [{key}] {rule}")


def _alternatives(value: Any, name: str) -> list:
    """A field's alternatives: shape and value_range nest one level deeper than the others."""
    if name in ("shape", "value_range"):
        if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
            return value
        return [value]
    return value if isinstance(value, list) else [value]


def _field_count(descs: list[dict], name: str, path: Path, where: str) -> int:
    counts = {len(_alternatives(d[name], name)) for d in descs if name in d} - {1}
    if len(counts) > 1:
        _fail(path, where, name, f"should list the same number of alternatives in every "
                                 f"tensor, but lists {sorted(counts)}")
    return counts.pop() if counts else 1


def _pick(desc: dict, choice: dict[str, int]) -> dict:
    picked = dict(desc)
    for name, index in choice.items():
        if name in desc:
            alts = _alternatives(desc[name], name)
            picked[name] = alts[index if len(alts) > 1 else 0]
    return picked


def _check_case(case: Any, index: int, path: Path) -> None:
    where = f"case {index}"
    if not isinstance(case, dict):
        _fail(path, where, "case", f"should be an object, but actually is {type(case).__name__}")
    for key in REQUIRED_KEYS:
        if key not in case:
            _fail(path, f"{where} ({case.get('case_name', '?')})", key, "is required but missing")
    where = f"case [{case['case_name']}]"
    for kind in ("input_desc", "output_desc"):
        if not isinstance(case[kind], list) or not case[kind]:
            _fail(path, where, kind, "should be a non-empty list of tensor descriptions")
        for number, desc in enumerate(case[kind]):
            for key in ("format", "type", "shape"):
                if not isinstance(desc, dict) or key not in desc:
                    _fail(path, f"{where} {kind}[{number}]", key, "is required but missing")
    func_file = case.get("calc_expect_func_file")
    if func_file is not None and (not isinstance(func_file, str) or func_file.count(":") != 1):
        _fail(path, where, "calc_expect_func_file", f"should be 'file.py:function', but actually "
                                                    f"is [{func_file}]")
    for number, attr in enumerate(case.get("attr", [])):
        if not isinstance(attr, dict) or not {"name", "value"} <= set(attr):
            _fail(path, f"{where} attr[{number}]", "name/value", "are required")


def load_case_file(path: str | Path) -> list[dict]:
    """Parse and check a case file; raise :class:`CaseFileError` naming the file and key."""
    path = Path(path)
    if not path.is_file():
        raise CaseFileError(f"case file [{path}] does not exist")
    try:
        cases = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CaseFileError(f"case file [{path}] is not valid JSON: {err}") from None
    if not isinstance(cases, list):
        raise CaseFileError(f"case file [{path}] should hold a JSON list of cases, but holds "
                            f"a {type(cases).__name__}")
    for index, case in enumerate(cases):
        _check_case(case, index, path)
    return cases


def expand_case(case: dict, path: Path) -> list[SubCase]:
    """The sub-cases of one case: the cross product of its fields' alternatives."""
    where = f"case [{case['case_name']}]"
    tensors = case["input_desc"] + case["output_desc"]
    counts = {name: _field_count(tensors, name, path, where) for name in CROSSED_FIELDS}
    choices = [dict(zip(counts, combo)) for combo in itertools.product(*map(range, counts.values()))]
    subs = []
    for number, choice in enumerate(choices, start=1):
        inputs = [None if _pick(d, choice)["format"] in ABSENT_FORMATS else
                  {**DEFAULTS, **_pick(d, choice)} for d in case["input_desc"]]
        name = case["case_name"] if len(choices) == 1 else f"{case['case_name']}_sub_case_{number:03d}"
        subs.append(SubCase(name, case["op"], inputs, [_pick(d, choice) for d in case["output_desc"]],
                            {a["name"]: a["value"] for a in case.get("attr", [])},
                            case.get("expect", "success"), case.get("calc_expect_func_file"), case))
    return subs
