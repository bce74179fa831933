"""``tools/device_check.sh --compile-only``: the op's CUDA kernels are generated without a GPU."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "device_check.sh"


@pytest.mark.cuda
@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed: the script cannot run")
def test_compile_only_generates_cuda_for_every_dtype(tmp_path):
    env = dict(os.environ, PYTHON=sys.executable)
    done = subprocess.run(["bash", str(SCRIPT), "--compile-only"], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    for dtype in ("float32", "float16", "bfloat16"):
        assert f"bce_cuda_{dtype}_w_mean: CUDA source generated" in done.stdout
    if shutil.which("nvcc"):
        assert done.stdout.count("-cubin ok") == 4
    assert "compile-only: ok" in done.stdout


def test_device_check_refuses_unknown_options():
    done = subprocess.run(["bash", str(SCRIPT), "--bogus"], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 2 and "--bogus" in done.stderr
