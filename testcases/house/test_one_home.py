"""One home per fact (issue 27): the reductions, ``MAX_RANK`` and the shared error texts are
written once, in :mod:`bce_grad.op_support` and :mod:`bce_grad.op_messages`; the C/C++ sources
get them from the generated ``bce_grad_op_facts.h``; nothing else retypes them.

The scan reads the project's code (Python through its syntax tree, so docstrings, which describe
a parameter's values, do not count; C/C++ without its comments). ``impl/`` keeps its own copy,
as CANN ships it alone; ``test_the_operators_own_copy_equals_the_table`` compares it.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from bce_grad import op_messages, op_support
from bce_grad.runtime import facts_header

ROOT = Path(__file__).resolve().parents[2]
#: Where the facts live, and the generated header.
HOMES = {ROOT / "bce_grad" / "op_support.py", ROOT / "bce_grad" / "op_messages.py",
         facts_header.HEADER}
#: Folders of product code scanned (impl/ is compared instead: it ships alone).
SCANNED = ("bce_grad", "op_proto", "tools")
#: Per shared message, a fragment of its words that only a retyped copy would hold.
FRAGMENTS = {"Reduction": "or aclnn's enum", "Dtype": "(op_info_cfg/ai_core/",
             "Rank": "num of dimensions of input/output", "Dim": "the dim value[",
             "Broadcast": "should broadcast to the shape"}
_MAX_RANK_ASSIGN = re.compile(r"\b_?(MAX_RANK|kMaxRank)\s*=\s*\d")
_REDUCTION_LIST = re.compile(r"([\"'])none\1\s*,\s*([\"'])mean\2\s*,\s*([\"'])sum\3")


def _files(suffixes: tuple[str, ...]) -> list[Path]:
    found = []
    for folder in SCANNED:
        found += [p for p in (ROOT / folder).rglob("*") if p.suffix in suffixes and
                  p.resolve() not in HOMES and "__pycache__" not in p.parts]
    return sorted(found)


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _python_retypes(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        where = f"{_name(path)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
            if sorted(map(str, values)) == sorted(op_support.REDUCTIONS):
                found.append(f"{where}: the reductions")
        elif isinstance(node, ast.Dict):
            values = [e.value for e in (*node.keys, *node.values) if isinstance(e, ast.Constant)]
            if set(op_support.REDUCTIONS) <= set(values):
                found.append(f"{where}: the reduction enum")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id.lstrip("_") == "MAX_RANK" for t in targets) \
                    and isinstance(node.value, ast.Constant):
                found.append(f"{where}: MAX_RANK")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                id(node) not in docstrings:
            found += [f"{where}: the {name} message" for name, fragment in FRAGMENTS.items()
                      if fragment in node.value]
    return found


def _c_retypes(path: Path) -> list[str]:
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), path.read_text(), flags=re.S)
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        code = line.split("//", 1)[0]
        where = f"{_name(path)}:{number}"
        if _MAX_RANK_ASSIGN.search(code):
            found.append(f"{where}: MAX_RANK")
        if _REDUCTION_LIST.search(code):
            found.append(f"{where}: the reductions")
        found += [f"{where}: the {name} message" for name, fragment in FRAGMENTS.items()
                  if fragment in code]
    return found


def test_every_fragment_is_its_messages():
    assert set(FRAGMENTS) == set(op_messages.MESSAGES)
    for name, fragment in FRAGMENTS.items():
        assert fragment in op_messages.MESSAGES[name].template


def test_no_code_retypes_a_fact_that_has_a_home():
    found = [hit for path in _files((".py",)) for hit in _python_retypes(path)]
    found += [hit for path in _files((".cc", ".h", ".c")) for hit in _c_retypes(path)]
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("source, kind", [
    ("X = ('none', 'mean', 'sum')\n", "the reductions"),
    ("E = {0: 'none', 1: 'mean', 2: 'sum'}\n", "the reduction enum"),
    ("_MAX_RANK = 8\n", "MAX_RANK"),
    ("def f(n):\n    return f'In op, the num of dimensions of input/output[{n}] is wrong'\n",
     "the Rank message"),
])
def test_the_scan_finds_a_retyped_fact(tmp_path, source, kind):
    path = tmp_path / "probe.py"
    path.write_text(source)
    assert [hit.split(": ", 1)[1] for hit in _python_retypes(path)] == [kind]


def test_the_scan_finds_a_retyped_fact_in_cpp(tmp_path):
    path = tmp_path / "probe.cc"
    path.write_text('// "none", "mean", "sum" in a comment is fine\n'
                    'constexpr int kMaxRank = 8;\nconst char* r[] = {"none", "mean", "sum"};\n')
    assert [hit.split(": ", 1)[1] for hit in _c_retypes(path)] == ["MAX_RANK", "the reductions"]


def test_the_generated_header_is_current():
    assert facts_header.HEADER.read_text() == facts_header.render(), \
        "run python -m bce_grad.runtime.facts_header"
    assert facts_header.main(["--check"]) == 0


def test_every_cpp_source_gets_the_facts_from_the_generated_header():
    runtime_header = (facts_header.HEADER.parent / "bce_grad_runtime.h").read_text()
    assert '#include "bce_grad_op_facts.h"' in runtime_header
    for source in ("torch/csrc/bce_grad_torch.cc", "tensorflow/csrc/bce_grad_tf.cc",
                   "mindspore/csrc/bce_grad_ms.cc", "runtime/src/common.h"):
        assert '#include "bce_grad_runtime.h"' in (ROOT / "bce_grad" / source).read_text(), source
