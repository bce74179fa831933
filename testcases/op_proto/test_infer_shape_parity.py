"""One InferShape rule in two languages, checked against one table of cases.

``infer_shape_cases.json`` holds the cases. The Python side calls ``bce_grad/infer_shape.py``.
The C++ side compiles ``infer_shape_check.cc``, which includes the real
``op_proto/binary_cross_entropy_grad.cc``, against the ge:: test double in ``ge_test_double/``
(g++ only, no CANN and no download), and runs every case through it in one process. Both sides
must give each case's expected shape, range, dtype and format.
"""
from __future__ import annotations

import json
from pathlib import Path
import pytest

from bce_grad import infer_shape

from .toolchain import OP_PROTO, cxx_standard, require_tool, run

HERE = Path(__file__).resolve().parent
CASES = json.loads((HERE / "infer_shape_cases.json").read_text())["cases"]
UNBOUNDED = -1  # GE's upper bound of an unbounded dim; Python writes None


def _python_side(x: dict) -> dict:
    """Run ``infer_shape.py`` on ``x``; the result in the table's terms."""
    out = infer_shape.infer_shape(dict(x))
    return {"shape": list(out["shape"]), "dtype": out["dtype"], "format": out["format"],
            "range": [[lo, UNBOUNDED if hi is None else hi] for lo, hi in out["range"]]}


def _encode(x: dict) -> str:
    """One stdin line of infer_shape_check.cc: dtype format rank dims... count lo hi..."""
    fields = [x["dtype"], x.get("format", "ND"), len(x["shape"]), *x["shape"]]
    if "range" in x:
        fields += [len(x["range"]), *(bound for pair in x["range"] for bound in pair)]
    else:
        fields.append(-1)
    return " ".join(str(field) for field in fields)


def _decode(line: str) -> dict:
    """One stdout line of infer_shape_check.cc, in the table's terms."""
    status, dtype, fmt, *numbers = line.split()
    values = [int(number) for number in numbers]
    rank = values[0]
    shape, count = values[1:1 + rank], values[1 + rank]
    bounds = values[2 + rank:]
    assert len(bounds) == 2 * count, f"malformed output line {line!r}"
    return {"status": status, "shape": shape, "dtype": dtype, "format": fmt,
            "range": [bounds[i:i + 2] for i in range(0, len(bounds), 2)]}


@pytest.fixture(scope="module")
def cpp_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Build the host check program with the ge:: test double; its result for every case."""
    gxx = require_tool("g++")
    program = tmp_path_factory.mktemp("infer_shape_check") / "infer_shape_check"
    run([gxx, cxx_standard(), "-Wall", "-Werror", "-I", str(HERE / "ge_test_double"),
         "-I", str(OP_PROTO / "inc"), "-I", str(OP_PROTO), str(HERE / "infer_shape_check.cc"),
         "-o", str(program)])
    stdout = run([str(program)], stdin="".join(_encode(case["x"]) + "\n" for case in CASES))
    lines = stdout.splitlines()
    assert len(lines) == len(CASES), f"{len(CASES)} cases in, {len(lines)} results out:\n{stdout}"
    return {case["id"]: _decode(line) for case, line in zip(CASES, lines, strict=True)}


def _expected(case: dict) -> dict:
    x = case["x"]
    return {**case["expected"], "dtype": x["dtype"], "format": x.get("format", "ND")}


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_python_rule(case: dict) -> None:
    assert _python_side(case["x"]) == _expected(case)


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_cpp_rule(case: dict, cpp_results: dict[str, dict]) -> None:
    result = dict(cpp_results[case["id"]])
    assert result.pop("status") == "ok", f"InferShape returned GRAPH_FAILED for {case['x']}"
    assert result == _expected(case)
