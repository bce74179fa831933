"""Fast start: help and the deploy subcommands import neither TVM nor PyTorch (nor numpy).

Each command runs in a fresh interpreter, which then reports the heavy modules it
loaded. The figures of ``bce-grad bench --startup`` are in the README; this test
checks the cause of a slow start (what is imported), not a time.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from bce_grad.tools.cli import build_parser

HEAVY = ("tvm", "tvm_ffi", "torch", "numpy")
SUBCOMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)  # noqa: SLF001


def _modules_loaded(argv: list[str], cwd) -> list[str]:
    code = ("import json, sys\nfrom bce_grad.tools.cli import main\n"
            f"try:\n    code = main({argv!r})\nexcept SystemExit as done:\n    code = done.code\n"
            f"print(json.dumps([code, [m for m in {HEAVY!r} if m in sys.modules]]))")
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          check=True)
    exit_code, loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert exit_code == 0, done.stderr
    return loaded


@pytest.mark.parametrize("argv", [["--help"], *[[sub, "--help"] for sub in SUBCOMMANDS]],
                         ids=lambda a: " ".join(a))
def test_help_imports_nothing_heavy(argv, tmp_path):
    assert _modules_loaded(argv, tmp_path) == []


@pytest.mark.parametrize("argv", [["opinfo", "--out", "oi"], ["package", "--out", "pk"],
                                  ["atc-json", "--shape", "8,16", "--dtype", "float16"]],
                         ids=lambda a: a[0])
def test_deploy_commands_import_nothing_heavy(argv, tmp_path):
    assert _modules_loaded(argv, tmp_path) == []


def test_startup_benchmark_reports_every_command(tmp_path):
    from bce_grad.tools.cli import main

    report = tmp_path / "startup.json"
    assert main(["bench", "--startup", "--quick", "--json", str(report)]) == 0
    records = {r["command"]: r for r in json.loads(report.read_text())}
    assert {"python -c pass", "--help", "run (8,16), warm kernel cache",
            "import bce_grad + first numpy call, empty cache",
            "first call on another SoC (one kernel), warm runtime",
            "demo (Quick start), empty cache"} <= set(records)
    if importlib.util.find_spec("torch") is not None:  # one kernel, no package, from backward()
        assert records["first torch backward on another SoC (one kernel)"][
            "median_s"] > 0
    timed = {name: r for name, r in records.items() if r["median_s"] is not None}
    assert all(r["median_s"] > 0 for r in timed.values())
    assert all(r["note"].startswith("skipped: ") for name, r in records.items() if name not in timed)
    assert "demo (Quick start), empty cache" in timed
    assert records["--help"]["median_s"] > records["python -c pass"]["median_s"]
