"""Paper cuts a new user hit, each run the way the README shows it (issue 27)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bce_grad.tools.cli import join_negative_values

REPO = Path(__file__).resolve().parents[2]
#: The console script pip installs; unlike ``python -m``, it puts no current folder on sys.path.
BCE_GRAD = Path(sys.executable).parent / "bce-grad"


def _console(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    if not BCE_GRAD.is_file():
        pytest.skip(f"no bce-grad console script beside {sys.executable}")
    return subprocess.run([str(BCE_GRAD), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_ut_console_script_imports_case_helpers_from_the_repository_root():
    done = _console("ut", "--case_files", "testcases/ut", "--soc_version", "Ascend910B1",
                    "--case_name", "scalar_x", cwd=REPO)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "ModuleNotFoundError" not in done.stdout
    assert "success 2, failed 0" in done.stdout or "failed 0, error 0" in done.stdout, done.stdout


def test_ut_console_script_from_another_folder(tmp_path):
    done = _console("ut", "--case_files", str(REPO / "testcases" / "ut"), "--soc_version",
                    "Ascend910B1", "--case_name", "scalar_x", "--test_report_path",
                    str(tmp_path / "report"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.mark.parametrize("argv, expected", [
    (["compile", "--shape", "-1,1024"], ["compile", "--shape=-1,1024"]),
    (["compile", "--shape", "-2"], ["compile", "--shape=-2"]),
    (["compile", "--shape", "32,1024"], ["compile", "--shape", "32,1024"]),
    (["compile", "--shape", "--dynamic"], ["compile", "--shape", "--dynamic"]),
    (["run", "--", "--shape", "-1"], ["run", "--", "--shape", "-1"]),
])
def test_negative_shape_values_are_joined_to_their_option(argv, expected):
    assert join_negative_values(argv) == expected


def test_compile_takes_a_dynamic_shape_as_a_separate_word(tmp_path):
    done = _console("compile", "--shape", "-1,1024", "--dynamic", "--kernel-meta",
                    str(tmp_path / "meta"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    info = json.loads((tmp_path / "meta" / "binary_cross_entropy_grad.json").read_text())
    assert info, "the kernel's json is empty"


@pytest.mark.torch
def test_torch_enable_prints_no_override_warning():
    pytest.importorskip("torch")
    done = subprocess.run(
        [sys.executable, "-c", "import bce_grad.torch as b; b.enable(); b.disable(); b.enable(); "
         "print(b.enabled())"], capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("True")
    assert "Overriding a previously registered kernel" not in done.stderr, done.stderr[-2000:]
