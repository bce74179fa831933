"""Bad calls and bad packages come back as status codes and CANN-coded messages, never crashes."""
from __future__ import annotations

import ctypes
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bce_grad.host_backend.errors import OpError, OpTypeError, OpValueError

F32 = np.float32


def _ok():
    x = np.full((6, 5), 0.3, F32)
    return np.ones((6, 1), F32), x, np.zeros((6, 5), F32), np.ones(5, F32)


@pytest.mark.parametrize("mutate, kind, pattern", [
    (lambda a: a.update(reduction=7), OpValueError,
     r"\[E80009\] In op\[binary_cross_entropy_grad\], the parameter\[reduction\] should be one of "
     r"\['none', 'mean', 'sum'\] or aclnn's enum \[0, 1, 2\], but actually is \[7\]"),
    (lambda a: a.update(x=a["x"].astype(np.float64)), OpValueError,
     r"\[E80008\] .*parameter\[x\] dtype should be one of \['float16', 'float32', 'bfloat16'\] on "
     r"Ascend910B1 \(op_info_cfg/ai_core/ascend910b\), but actually is \[float64\]"),
    (lambda a: a.update(y=np.zeros((6, 3), F32)), OpValueError,
     r"\[E80029\] In op\[binary_cross_entropy_grad\], the shape of inputs\[x\]\[y\] are invalid, "
     r"\[shape \[6, 3\] of y should broadcast to the shape \[6, 5\] of x\]\."),
    (lambda a: a.update(x=np.full((1,) * 9, 0.5, F32)), OpValueError,
     r"\[E80012\] In op, the num of dimensions of input/output\[x\] should be in the range of "
     r"\[0, 8\], but actually is \[9\]\."),
    (lambda a: a.update(out=np.empty((5, 6), F32)), OpValueError,
     r"\[E80000\] .*parameter\[out\] is unusable: shape \[5, 6\] should be x's shape \[6, 5\]"),
    (lambda a: a.update(out=np.empty((5, 6), F32).T), OpValueError,
     r"parameter\[out\] is unusable: it should be C-contiguous"),
    (lambda a: a.update(out=a["x"]), OpValueError,
     r"parameter\[out\] is unusable: it should not overlap the input\(s\) \['x'\]"),
    (lambda a: a.update(x=np.full((2, 6, 5), .3, F32), y=np.zeros((2, 6, 5), F32)), OpError,
     r"\[E61001\] .*has no kernel for the broadcast pattern ddd_ddd_1d1_11d \(canonical shapes "
     r"\[\[2, 6, 5\], \[2, 6, 5\], \[1, 6, 1\], \[1, 1, 5\]\]\) with dtypes x=float32"),
])
def test_bad_calls(runtime, mutate, kind, pattern):
    g, x, y, w = _ok()
    args = {"g": g, "x": x, "y": y, "w": w, "reduction": "mean", "out": None}
    mutate(args)
    with pytest.raises(kind, match=pattern):
        runtime.backward(args["g"], args["x"], args["y"], args["w"], args["reduction"], args["out"])


def test_missing_pattern_is_its_own_error(runtime):
    from bce_grad.runtime import KernelNotInPackage

    x = np.full((2, 3, 4), 0.5, F32)
    with pytest.raises(KernelNotInPackage, match=r"pattern ddd_1d1_ddd"):
        runtime.backward(x, x, np.zeros((3, 1), F32), None, "sum")


def _raw(runtime):
    from bce_grad.runtime.native import DLTensor, to_dltensor

    lib = runtime._lib
    x = np.full(4, 0.5, F32)
    out = np.empty(4, F32)
    held = [to_dltensor(a) for a in (x, x, x, out)]
    refs = [ctypes.byref(t) for t, _ in held]
    return lib, refs, held, DLTensor


def test_c_abi_null_pointers_and_devices(runtime):
    lib, refs, held, _ = _raw(runtime)
    h = runtime._handle
    assert lib.bce_grad_backward(h, refs[0], refs[1], refs[2], None, 1, refs[3]) == 0
    assert lib.bce_grad_backward(h, refs[0], None, refs[2], None, 1, refs[3]) == 1
    assert b"[E80001]" in lib.bce_grad_last_error() and b"parameter[x] is missing" in lib.bce_grad_last_error()
    assert lib.bce_grad_backward(None, refs[0], refs[1], refs[2], None, 1, refs[3]) == 1
    assert b"parameter[package] is NULL" in lib.bce_grad_last_error()
    held[1][0].device.device_type = 2  # kDLCUDA
    assert lib.bce_grad_backward(h, refs[0], refs[1], refs[2], None, 1, refs[3]) == 1
    assert b"should be a CPU tensor (kDLCPU)" in lib.bce_grad_last_error()
    handle = ctypes.c_void_p()
    assert lib.bce_grad_package_open(b"/nonexistent/pkg", 0, ctypes.byref(handle)) == 3
    assert b"[E61001]" in lib.bce_grad_last_error() and b"manifest.json" in lib.bce_grad_last_error()
    assert not handle.value
    lib.bce_grad_package_close(None)  # fine


def test_wrong_argument_types(runtime):
    x = np.full(4, 0.5, F32)
    with pytest.raises(OpTypeError, match=r"E80008.*dtype \[<U12\] cannot be passed"):
        runtime.backward(x, x, "not an array", None)
    with pytest.raises(OpValueError, match=r"E80009"):
        runtime.backward(x, x, x, None, "average")


def _copy_package(package_dir, tmp_path) -> Path:
    target = tmp_path / "pkg"
    shutil.copytree(package_dir, target)
    return target


def test_damaged_kernel_is_refused(package_dir, runtime_library, tmp_path):
    from bce_grad.runtime import Runtime

    pkg = _copy_package(package_dir, tmp_path)
    manifest = json.loads((pkg / "manifest.json").read_text())
    victim = next(k for k in manifest["kernels"] if k["pattern"] == "d_d_d" and k["output"] == "float32")
    so = pkg / victim["so"]
    data = bytearray(so.read_bytes())
    data[len(data) // 2] ^= 0xFF
    so.write_bytes(bytes(data))
    x = np.full(8, 0.5, F32)
    with Runtime(pkg, library=runtime_library) as rt:  # lazy: the damaged kernel fails on use
        for _ in range(2):  # and keeps failing, with the same message
            with pytest.raises(OpError, match=r"\[E61001\] .*" + victim["name"] + r"\.so is unusable: "
                               r"its SHA-256 [0-9a-f]{64} does not match"):
                rt.backward(x, x, x, None, "mean")
        w = np.ones(8, F32)
        rt.backward(x, x, x, w, "mean")  # the other kernels still serve
    with pytest.raises(OpError, match=r"does not match"):
        Runtime(pkg, eager=True, library=runtime_library)


def test_broken_manifest_is_refused(package_dir, runtime_library, tmp_path):
    from bce_grad.runtime import Runtime

    pkg = _copy_package(package_dir, tmp_path)
    (pkg / "manifest.json").write_text('{"format": "bce-grad-kernel-package", "format_version": 1')
    with pytest.raises(OpError, match=r"\[E61001\] .*manifest.json is unusable: it is not valid JSON"):
        Runtime(pkg, library=runtime_library)
    manifest = json.loads((Path(package_dir) / "manifest.json").read_text())
    manifest["target"]["kind"] = "cuda"
    (pkg / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(OpError, match=r"target \[cuda\]; this runtime runs CPU \(llvm\) kernels only"):
        Runtime(pkg, library=runtime_library)
