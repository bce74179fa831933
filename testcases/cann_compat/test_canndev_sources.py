"""Opt-in: CANN's own sources on the host backend (skipped unless ``$BCE_GRAD_CANNDEV_DIR`` is set).

``BCE_GRAD_CANNDEV_DIR`` is a checkout of canndev (the public mirror
``dengguojie/vue-element-admin``, branch ``stp``). Nothing of it is copied here: the tests
run its op_test_frame, its UT files and its ``binary_cross_entropy_grad.py`` files as they are.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CANNDEV = os.environ.get("BCE_GRAD_CANNDEV_DIR")
pytestmark = pytest.mark.skipif(not CANNDEV, reason="set BCE_GRAD_CANNDEV_DIR to a canndev checkout")
ROOT = Path(__file__).resolve().parents[2]
SOCS = "Ascend910,Ascend910A,Ascend310P3,Ascend310"

CHECK = r"""
import json, math, sys
import numpy as np
import bce_grad.cann_compat as c
from bce_grad.cann_compat.impl_path import use_impl_dir
c.install(); use_impl_dir(sys.argv[1])
from bce_grad.golden import binary_cross_entropy_grad_golden
from bce_grad.host_backend import platform
from bce_grad.host_backend.build import kernel_meta_at
from bce_grad.host_backend.launch import load_kernel
from tbe.common.context.op_context import OpContext
import impl.binary_cross_entropy_grad as static
import impl.dynamic.binary_cross_entropy_grad as dynamic
shape, checked = (4, 5, 6), 0
rng = np.random.default_rng(3)
for dtype in ("float32", "float16"):
    for reduction in ("none", "mean", "sum"):
        for weighted in (False, True):
            a = {"x": rng.uniform(0.01, 0.99, shape), "y": rng.uniform(0, 1, shape),
                 "grad_output": rng.uniform(-2, 2, shape)}
            if weighted:
                a["weight"] = rng.uniform(0, 3, shape)
            a = {k: v.astype(dtype) for k, v in a.items()}
            want = binary_cross_entropy_grad_golden(**a, reduction=reduction,
                                                    compute_dtype="float32", out_dtype=dtype)
            for mode, entry in (("static", static), ("dynamic", dynamic)):
                dims = list(shape) if mode == "static" else [-1, -1, -1]
                d = {"shape": dims, "dtype": dtype, "format": "ND", "ori_shape": list(shape),
                     "ori_format": "ND", "range": [(1, None)] * 3}
                name = f"canndev_{mode}_{dtype}_{reduction}_{int(weighted)}"
                with platform.use_soc("Ascend910A"), kernel_meta_at(sys.argv[2]), OpContext(mode):
                    entry.binary_cross_entropy_grad(dict(d), dict(d), dict(d), dict(d) if weighted else None,
                                                    dict(d), reduction, kernel_name=name)
                kernel = load_kernel(f"{sys.argv[2]}/{name}.json")
                out = np.zeros(shape, dtype)
                arrays = list(a.values()) + [out]
                # the kernel binds the arrays; CANN's C++ tiling gives cof = 1/numel(x) for mean
                kernel(arrays, {"cof": 1.0 / math.prod(shape)}
                       if mode == "dynamic" and reduction == "mean" else {})
                assert out.tobytes() == want.tobytes(), (name, np.abs(out - want).max())
                checked += 1
print(json.dumps({"bit_exact_kernels": checked}))
"""


#: ``bce-grad op-ut-run ARGS``, through the subcommand's own module.
DRIVER = ("import argparse, sys\n"
          "from bce_grad.tools.commands import op_ut_run\n"
          "parser = argparse.ArgumentParser(); op_ut_run.register(parser.add_subparsers())\n"
          "args = parser.parse_args(['op-ut-run', *sys.argv[1:]])\n"
          "sys.exit(args.func(args))\n")


def test_canndev_impl_files_compile_unmodified_and_match_the_golden_bit_for_bit(tmp_path):
    impl_dir = Path(CANNDEV, "ops/built-in/tbe/impl")
    out = subprocess.run([sys.executable, "-c", CHECK, str(impl_dir), str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"bit_exact_kernels": 24}


@pytest.mark.parametrize("simulator", [True, False])
def test_op_ut_run_passes_canndevs_own_ut_files(tmp_path, simulator):
    canndev = Path(CANNDEV)
    cmd = [sys.executable, "-c", DRIVER,
           "--op-test-frame", str(canndev / "tools/op_test_frame/python"),
           "--impl-path", str(canndev / "ops/built-in/tbe/impl"),
           "--case_files", str(canndev / "ops/built-in/tests/ut/ops_test/BinaryCrossEntropyGrad"),
           "--soc_version", SOCS] + (["--simulator_mode", "pv"] if simulator else [])
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    report = json.loads((tmp_path / "report/.ut_test_report").read_text())
    statuses = [r["status"] for r in report["report_list"]]
    assert statuses == ["success"] * (23 if simulator else 11)
