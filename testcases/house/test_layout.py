"""The house: folders are import paths, no import cycle, the user API apart from the CLI.

Issue 27: ``bce_grad.host_backend`` and ``bce_grad.tools`` lived in top-level ``host_backend/``
and ``tools/`` folders remapped by setup.cfg, and the user API imported the CLI's package for
the kernel cache. These tests read the sources (and import from a plain checkout), so a
regression fails here, not in a user's IDE.
"""
from __future__ import annotations

import ast
import configparser
import subprocess
import sys
from pathlib import Path

from bce_grad import op_support

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "bce_grad"
#: The CANN-layout folders setup.cfg maps (data and CANN's operator layout, not the project's code).
CANN_LAYOUT = {"bce_grad": "bce_grad", "bce_grad.op_proto": "op_proto",
               "bce_grad.op_info_cfg": "op_info_cfg"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if "__pycache__" in path.parts or "_prebuilt" in path.parts:
            continue
        name = ".".join(path.relative_to(REPO).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _imports(name: str, path: Path, module_level: bool) -> set[str]:
    """Project modules ``name`` imports (at module level only, or anywhere)."""
    modules = _modules()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):  # ``if TYPE_CHECKING:`` imports never run
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            node.body = []
    nodes = tree.body if module_level else list(ast.walk(tree))
    if module_level:  # imports under a module-level if/try run at import time too
        nodes = [n for top in nodes for n in (ast.walk(top) if isinstance(top, (ast.If, ast.Try))
                                              else [top])]
    found: set[str] = set()
    for node in nodes:
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                found.add(target)
    return found


def _assert_acyclic(graph: dict[str, set[str]]) -> None:
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_no_module_level_import_cycle():
    _assert_acyclic({name: _imports(name, path, module_level=True)
                     for name, path in _modules().items()})


def test_no_import_cycle_even_through_imports_inside_functions():
    """A function-level import is still a dependency: the house is a tree of layers (issue 27;
    17 modules formed one cycle through such imports, the host backend and the runtime among
    them)."""
    _assert_acyclic({name: _imports(name, path, module_level=False)
                     for name, path in _modules().items()})


def test_the_user_api_imports_nothing_from_the_cli():
    users = {n: p for n, p in _modules().items()
             if not n.startswith("bce_grad.tools") and n != "bce_grad.__main__"}
    offenders = {n: sorted(d for d in _imports(n, p, module_level=False)
                           if d.startswith("bce_grad.tools"))
                 for n, p in users.items()}
    assert {n: d for n, d in offenders.items() if d} == {}


def test_setup_cfg_maps_no_code_folder():
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg", encoding="utf-8")
    mapping = dict(line.split("=", 1) for line in
                   config["options"]["package_dir"].strip().splitlines())
    mapping = {k.strip(): v.strip() for k, v in mapping.items()}
    assert mapping == CANN_LAYOUT
    for folder in set(CANN_LAYOUT.values()) - {"bce_grad"}:  # data: no code but the package marker
        code = sorted(str(p.relative_to(REPO)) for p in (REPO / folder).rglob("*.py")
                      if p.name != "__init__.py")
        assert code == [], f"code in the data folder {folder}/: {code}"
    assert not (REPO / "host_backend").exists()
    assert sorted(p.name for p in (REPO / "tools").iterdir() if p.name != "__pycache__") == \
        ["device_check.sh", "run_tests.sh", "wheel_backend.py"]


def test_a_plain_checkout_imports_the_host_backend_and_the_cli():
    """No site-packages finder (-S): the folders alone must be the import paths."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import bce_grad.host_backend as h, "
            "bce_grad.tools.cli as c, bce_grad._impl.dynamic.binary_cross_entropy_grad as o; "
            "print(h.__file__); print(c.__file__); print(o.__file__); "
            "print('impl' in sys.modules); import bce_grad.op_support as s; print(*s.SOC_DIRS)")
    done = subprocess.run([sys.executable, "-S", "-c", code, str(REPO)], capture_output=True,
                          text=True, timeout=60, cwd="/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(PACKAGE / "host_backend" / "__init__.py"),
                                   str(PACKAGE / "tools" / "cli.py"),
                                   str(REPO / "impl" / "dynamic" / "binary_cross_entropy_grad.py"),
                                   "False",  # loaded by location, under the private name only
                                   *op_support.SOC_DIRS]  # the op info found in the checkout
