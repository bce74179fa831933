"""Importing the project changes nothing another thread sees (issue 24, item 4).

TVM's FFI imports torch eagerly; the host backend keeps that import out of TVM's load
(:mod:`bce_grad.host_backend.import_guard`) without touching ``sys.modules``, so another
thread's ``import torch`` during the first call (which loads TVM) works. Each check runs in
a fresh interpreter, where neither TVM nor torch is loaded yet.
"""
from __future__ import annotations

import importlib.util
import os

import pytest

from bce_grad.api import binary_cross_entropy_backward as bce_backward

from .cases import make_call
from .conftest import run_python

pytestmark = [pytest.mark.torch,
              pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="torch is not installed: nothing to race with")]

#: Thread 1 makes the first call (TVM loads); thread 2, once TVM's import has begun, imports
#: torch again and again until that call returns.
_RACE = """
import importlib, sys, threading, time
import bce_grad
from testcases.reliability.cases import golden, make_call, same_bits
assert not {"torch", "tvm", "tvm_ffi"} & set(sys.modules), "loaded before the first call"
x, y, g, w = make_call(11, "float32", gshape=(4, 8), wshape=(4, 8))
barrier, called, errors, overlapped = threading.Barrier(2), threading.Event(), [], []

def first_call():
    barrier.wait()
    try:
        out = bce_grad.binary_cross_entropy_backward(g, x, y, w, "sum")
        assert same_bits(out, golden(x, y, g, w, "sum", "float32")), "wrong result"
    except BaseException as err:
        errors.append(f"call: {err!r}")
    finally:
        called.set()

def import_torch():
    barrier.wait()
    while not {"tvm", "tvm_ffi"} & set(sys.modules) and not called.is_set():
        time.sleep(0)
    overlapped.append(not called.is_set())
    while True:
        try:
            importlib.import_module("torch")
        except BaseException as err:
            errors.append(f"import torch: {err!r}")
        if called.is_set():
            break
        time.sleep(0.001)

threads = [threading.Thread(target=first_call), threading.Thread(target=import_torch)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
assert errors == [], errors
assert overlapped == [True], "the import of torch did not overlap TVM's load"
assert sys.modules["torch"].ones(2).sum().item() == 2.0
print("ok")
"""


@pytest.fixture(scope="module")
def warm_kernel() -> None:
    """The kernels of the subprocesses' calls, in the session's kernel cache."""
    x, y, g, w = make_call(11, "float32", gshape=(4, 8), wshape=(4, 8))
    bce_backward(g, x, y, w, "sum")


@pytest.mark.parametrize("attempt", range(3))
def test_import_torch_in_another_thread_while_tvm_loads(attempt, warm_kernel):
    done = run_python(_RACE, cwd=os.getcwd(), timeout=300)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-3000:]


def test_first_call_of_a_cached_kernel_does_not_import_torch(warm_kernel):
    code = (
        "import sys\n"
        "import bce_grad\n"
        "from testcases.reliability.cases import make_call\n"
        "x, y, g, w = make_call(11, 'float32', gshape=(4, 8), wshape=(4, 8))\n"
        "bce_grad.binary_cross_entropy_backward(g, x, y, w, 'sum')\n"
        "assert 'tvm_ffi' in sys.modules, 'TVM was not loaded: the check proves nothing'\n"
        "assert 'torch' not in sys.modules, 'the first call imported torch'\n"
        "import torch\n"  # still importable: nothing was left behind
        "assert torch.ones(2).sum().item() == 2.0\n"
        "print('ok')\n")
    done = run_python(code, cwd=os.getcwd())
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-3000:]
