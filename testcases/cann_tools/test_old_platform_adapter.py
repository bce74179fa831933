"""The operator's modules import under CANN's 2022 platform_adapter.

There ``register_operator_compute(op_type, op_mode, support_fusion)`` takes no other
keyword (newer tbe takes ``**kwargs``); the test installs such a strict function
before the operator's modules are imported, in a fresh process.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CODE = """
import bce_grad.host_backend.register as register
host = register.register_operator_compute

def register_operator_compute(op_type, op_mode="dynamic", support_fusion=True):
    return host(op_type, op_mode=op_mode, support_fusion=support_fusion)

register.register_operator_compute = register_operator_compute
import impl.binary_cross_entropy_grad
import impl.dynamic.binary_cross_entropy_grad
print("imported")
"""


def test_impl_imports_with_the_2022_register_operator_compute():
    out = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("imported")
