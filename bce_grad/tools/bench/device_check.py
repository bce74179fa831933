"""The CUDA checks of ``tools/device_check.sh``: compile, bit-exact, bandwidth.

``python -m bce_grad.tools.bench.device_check --compile-only`` needs no GPU: it builds the
operator's dynamic entry for CUDA (``use_backend_target("cuda")``, as
``BCE_GRAD_TARGET=cuda`` selects) for each dtype into a temporary ``kernel_meta``, checks
that the JSON names the CUDA target and that the ``.so`` embeds CUDA source with a
``__global__`` function of the kernel's name, and, where ``nvcc`` is on PATH, compiles
that source to a cubin for the target's arch (skipped, and said so, without nvcc).

Without ``--compile-only`` (a machine with an NVIDIA GPU, ``BCE_GRAD_TARGET=cuda``):

1. bit-exact: the API's result on the GPU against the golden (float32 math, rounded to
   the dtype) for every dtype, weight or not, reduction none and mean, plain and broadcast,
   twice: numpy inputs (copied to the GPU and back) and, where torch sees the GPU, torch
   CUDA tensors (read in place; the result must be a torch CUDA tensor);
2. bandwidth, in one run: the kernel alone on device-resident tensors, the API on torch
   CUDA tensors with ``out=`` (in place: the kernel plus the call's Python cost), a
   device-to-device copy of the same bytes (TVM ``copyfrom``; half the bytes copied = the
   bytes read + written), and torch CUDA's ``aten.binary_cross_entropy_backward``. The
   torch rows are skipped, and said so, where torch does not see the GPU.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DTYPES = ("float32", "float16", "bfloat16")
BANDWIDTH_SHAPE = (8192, 8192)


def build_cuda(directory: Path, dtype: str, weight: bool, reduction: str) -> Path:
    """Build the dynamic entry for CUDA into ``directory``; returns the kernel's JSON."""
    from bce_grad.host_backend import platform
    from bce_grad.host_backend.build import kernel_meta_at
    from bce_grad.host_backend.op_context import OpContext
    from bce_grad._impl.dynamic.binary_cross_entropy_grad import binary_cross_entropy_grad

    name = f"bce_cuda_{dtype}_{'w' if weight else 'nw'}_{reduction}"
    desc = {"shape": [-1, -1], "dtype": dtype, "format": "ND"}
    with platform.use_backend_target("cuda"), platform.use_soc("Ascend910B1"), \
            kernel_meta_at(directory), OpContext("dynamic"):
        binary_cross_entropy_grad(dict(desc), dict(desc), dict(desc), dict(desc) if weight else None,
                                  dict(desc), reduction, name)
    return directory / f"{name}.json"


def embedded_source(so_path: Path) -> str:
    """The CUDA source text a kernel's ``.so`` embeds (the printable run around ``__global__``)."""
    data = so_path.read_bytes()
    at = data.find(b"__global__")
    if at < 0:
        return ""
    printable = set(range(32, 127)) | {9, 10, 13}
    start = at
    while start > 0 and data[start - 1] in printable:
        start -= 1
    end = at
    while end < len(data) and data[end] in printable:
        end += 1
    return data[start:end].decode("ascii")


def compile_only() -> int:
    """Build every dtype for CUDA and check the generated source (nvcc where present)."""
    nvcc = shutil.which("nvcc")
    failures = 0
    with tempfile.TemporaryDirectory(prefix="bce_grad_cuda_") as tmp:
        for dtype, weight, reduction in [(d, True, "mean") for d in DTYPES] + [("float32", False,
                                                                               "none")]:
            json_path = build_cuda(Path(tmp), dtype, weight, reduction)
            meta = json.loads(json_path.read_text())
            source = embedded_source(json_path.with_suffix(".so"))
            kernel_fn = f"{meta['name']}_kernel"
            problems = []
            if meta["target"]["kind"] != "cuda":
                problems.append(f"target is {meta['target']}")
            if "__global__ void" not in source or kernel_fn not in source:
                problems.append(f"no __global__ {kernel_fn} in the embedded CUDA source")
            verdict = "CUDA source generated"
            if nvcc and not problems:
                cu = Path(tmp) / f"{meta['name']}.cu"
                cu.write_text(source)
                arch = meta["target"].get("arch", "sm_90")
                done = subprocess.run([nvcc, f"-arch={arch}", "-cubin", "-o", str(cu.with_suffix(
                    ".cubin")), str(cu)], capture_output=True, text=True, check=False)
                if done.returncode:
                    problems.append(f"nvcc failed: {done.stderr.strip()[-400:]}")
                else:
                    verdict += f", nvcc -arch={arch} -cubin ok"
            elif not nvcc:
                verdict += ", nvcc not on PATH: cubin not compiled"
            failures += bool(problems)
            print(f"{meta['name']}: {'; '.join(problems) if problems else verdict} "
                  f"({len(source)} characters of CUDA)")
    print(f"compile-only: {'FAILED' if failures else 'ok'}")
    return 1 if failures else 0


def bit_exact() -> int:
    """API on the GPU vs the golden, bit for bit; returns the number of failing cases.

    Each case runs twice where torch sees the GPU: numpy inputs (copied to the GPU and the
    result back) and torch CUDA tensors (read in place, result a torch CUDA tensor).
    """
    from bce_grad.api import binary_cross_entropy_backward
    from bce_grad.golden import binary_cross_entropy_grad_golden
    from bce_grad.tools.bench.child import make_inputs

    torch = _torch_with_cuda("bit-exact, torch CUDA tensors")
    failures = 0
    patterns = [((257, 1031), (257, 1031)), ((1000, 3), (1000, 1)), ((2, 4099), (2, 1))]
    for dtype in DTYPES:
        for (shape_x, shape_g) in patterns:
            for weight in (False, True):
                for reduction in ("none", "mean"):
                    shapes = {"x": shape_x, "y": shape_x, "grad_output": shape_g}
                    if weight:
                        shapes["weight"] = shape_x
                    a = make_inputs({"dtype": dtype, "shapes": shapes})
                    want = binary_cross_entropy_grad_golden(x=a["x"], y=a["y"], grad_output=a["grad_output"],
                                                            weight=a.get("weight"), reduction=reduction,
                                                            compute_dtype="float32", out_dtype=dtype)
                    runs = {"numpy": a}
                    if torch is not None:
                        runs["torch cuda"] = {n: _to_torch_cuda(torch, v) for n, v in a.items()}
                    for path, args in runs.items():
                        got = binary_cross_entropy_backward(args["grad_output"], args["x"],
                                                            args["y"], args.get("weight"), reduction)
                        if path != "numpy":
                            if not isinstance(got, torch.Tensor) or got.device.type != "cuda":
                                failures += 1
                                print(f"bit-exact {path}: the result is a {type(got).__name__} "
                                      f"on {getattr(got, 'device', 'the host')}, not a CUDA tensor")
                                continue
                            got = _from_torch(torch, got)
                        bad = int(np.count_nonzero(got.view(np.uint8).reshape(got.size, -1)
                                                   != want.view(np.uint8).reshape(want.size, -1)))
                        failures += bad > 0
                        print(f"bit-exact {path:<10} {dtype:<8} x{shape_x} g{shape_g} "
                              f"weight={weight!s:<5} {reduction:<4}: "
                              f"{'ok' if not bad else f'{bad} bytes differ'}")
    return failures


def _time_device(call, sync, repeats: int = 10, number: int = 20) -> float:
    """Median seconds of one call, each sample ``number`` calls between syncs."""
    call()
    sync()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            call()
        sync()
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples)


def bandwidth() -> None:
    """Kernel alone, the API on torch CUDA tensors (in place, ``out=``), a device-to-device
    copy of the same bytes and torch CUDA's aten op, one run."""
    import tvm

    from bce_grad.api import binary_cross_entropy_backward
    from bce_grad.op_support import OP_TYPE
    from bce_grad.host_backend import launch, platform
    from bce_grad.host_backend.register import get_host_tiling
    from bce_grad import kernel_cache
    from bce_grad.tools.bench.child import make_inputs

    dev = tvm.cuda(0)
    torch = _torch_with_cuda("bandwidth rows on torch CUDA tensors")
    print(f"{'row':<22} {'dtype':<9} {'ms':>8} {'GB/s':>8} {'vs copy':>8}")
    for dtype in DTYPES:
        shapes = {n: BANDWIDTH_SHAPE for n in ("x", "y", "grad_output")}
        a = make_inputs({"dtype": dtype, "shapes": shapes})
        nbytes = sum(v.nbytes for v in a.values()) + a["x"].nbytes
        with platform.use_soc(platform.default_soc()) as info:
            json_path, pattern = kernel_cache.get_or_build(a, dtype, "mean", info)
        kernel = launch.load_kernel(json_path)
        case = kernel.case_for([*pattern, pattern[0]])
        scalars = get_host_tiling(OP_TYPE)([{"shape": list(v.shape), "dtype": dtype}
                                            for v in a.values()],
                                           [{"shape": list(a["x"].shape), "dtype": dtype}],
                                           {"reduction": "mean"}, kernel.meta.get("compile_info", {}))
        values = [float(scalars[s["name"]]) for s in case["scalars"]]
        staged = [launch.to_device(np.ascontiguousarray(array).reshape(shape), dev)  # as bound
                  for array, shape in zip([*a.values(), np.empty_like(a["x"])],
                                          [*pattern, pattern[0]])]
        func = kernel.module[case["function"]]
        rows = {"kernel": _time_device(lambda: func(*staged, *values), dev.sync)}
        src = tvm.runtime.empty((nbytes // 2,), "uint8", dev)
        dst = tvm.runtime.empty((nbytes // 2,), "uint8", dev)
        rows["d2d copy, same bytes"] = _time_device(lambda: dst.copyfrom(src), dev.sync)
        if torch is not None:
            t = {n: _to_torch_cuda(torch, v) for n, v in a.items()}
            out = torch.empty_like(t["x"])
            rows["api, torch cuda out="] = _time_device(
                lambda: binary_cross_entropy_backward(t["grad_output"], t["x"], t["y"], None,
                                                      "mean", out=out), torch.cuda.synchronize)
            rows["torch cuda aten"] = _time_device(
                lambda: torch.ops.aten.binary_cross_entropy_backward(
                    t["grad_output"], t["x"], t["y"], None, 1), torch.cuda.synchronize)
        for name, seconds in rows.items():
            gbps = nbytes / seconds / 1e9
            copy_gbps = nbytes / rows["d2d copy, same bytes"] / 1e9
            print(f"{name:<22} {dtype:<9} {seconds * 1e3:>8.3f} {gbps:>8.0f} {gbps / copy_gbps:>7.0%}")


def _torch_with_cuda(what: str):
    """torch when it is installed and sees a CUDA device, else None (``what`` said skipped)."""
    try:
        import torch
    except ImportError:
        print(f"{what}: skipped (torch is not installed)")
        return None
    if not torch.cuda.is_available():
        print(f"{what}: skipped (torch sees no CUDA device)")
        return None
    return torch


def _to_torch_cuda(torch, array: np.ndarray):
    """A torch CUDA tensor with ``array``'s values (bfloat16 through an int16 view)."""
    if str(array.dtype) == "bfloat16":
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16).cuda()
    return torch.from_numpy(array).cuda()


def _from_torch(torch, tensor) -> np.ndarray:
    """A torch tensor's values on the host as numpy (bfloat16 as ``ml_dtypes.bfloat16``)."""
    host = tensor.detach().cpu()
    if host.dtype == torch.bfloat16:
        import ml_dtypes

        return host.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return host.numpy()


def main(argv: list[str] | None = None) -> int:
    """Run the checks; exit 1 when any fails."""
    parser = argparse.ArgumentParser(prog="python -m bce_grad.tools.bench.device_check")
    parser.add_argument("--compile-only", action="store_true",
                        help="no GPU needed: generate (and with nvcc compile) the CUDA kernels")
    args = parser.parse_args(argv)
    if args.compile_only:
        return compile_only()
    from bce_grad.host_backend.runtime_lib import cuda_device_count

    if cuda_device_count() == 0:
        print("error: no usable CUDA device (libcuda missing or 0 devices); use --compile-only",
              file=sys.stderr)
        return 1
    if compile_only():
        return 1
    failures = bit_exact()
    bandwidth()
    print(f"device check: {'FAILED' if failures else 'ok'} ({failures} failing bit-exact cases)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
