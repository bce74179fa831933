"""What a first use builds, it says (issue 25): one line for a kernel compile past a second,
and what an adapter build is, why it happens and how long it took."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

CALL = ("import numpy as np, bce_grad, bce_grad.kernel_cache as k; k.COMPILE_NOTICE_S = {notice}\n"
        "x = np.full((8, 16), 0.3, np.float32)\n"
        "bce_grad.binary_cross_entropy_backward(np.ones((8, 1), np.float32), x, x, soc='Ascend910A')\n"
        "print('second call', flush=True)\n"
        "bce_grad.binary_cross_entropy_backward(np.ones((8, 1), np.float32), x, x, soc='Ascend910A')\n")


def _run(code: str, tmp_path) -> subprocess.CompletedProcess:
    env = dict(os.environ, BCE_GRAD_CACHE=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_a_kernel_compile_past_its_notice_time_says_what_and_why_once(tmp_path):
    done = _run(CALL.format(notice=0.0), tmp_path)
    lines = [line for line in done.stderr.splitlines() if line.startswith("bce_grad: compiling")]
    assert len(lines) == 1, done.stderr[-3000:]
    assert "Ascend910A" in lines[0] and "no cached or shipped kernel serves" in lines[0]


def test_a_quick_compile_and_a_cached_kernel_say_nothing(tmp_path):
    done = _run(CALL.format(notice=600.0), tmp_path)
    assert "bce_grad: compiling" not in done.stderr


@pytest.mark.torch
def test_an_adapter_build_says_what_why_and_how_long(tmp_path):
    pytest.importorskip("torch")
    done = _run("import bce_grad.torch", tmp_path)
    lines = [line for line in done.stderr.splitlines() if line.startswith("bce_grad: ")]
    assert lines[0].startswith("bce_grad: building the torch adapter for torch "), lines
    assert "this install ships none" in lines[0] or "built for another torch" in lines[0]
    assert lines[-1].startswith("bce_grad: built the torch adapter in "), lines
