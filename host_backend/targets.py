"""TVM targets for the host backend: the host CPU through LLVM, and CUDA.

TVM 0.27 takes targets as dicts. ``-mcpu=native`` is refused by its LLVM, so the
CPU is named from ``llvm_get_system_cpu()`` (``znver4`` on AMD Zen 4); a generic
CPU would emulate float16 conversions in software and run many times slower.
"""
from __future__ import annotations

import functools
import os
import platform as _platform

import tvm


@functools.lru_cache(maxsize=None)
def host_cpu() -> str:
    """The LLVM name of this machine's CPU, or ``BCE_GRAD_MCPU`` when set."""
    return os.environ.get("BCE_GRAD_MCPU") or str(tvm.target.codegen.llvm_get_system_cpu())


def target_config(kind: str) -> dict:
    """The target dict for ``kind`` (``"llvm"`` or ``"cuda"``)."""
    if kind == "cuda":
        return {"kind": "cuda", "arch": os.environ.get("BCE_GRAD_CUDA_ARCH", "sm_90")}
    triple = f"{_platform.machine()}-linux-gnu"
    return {"kind": "llvm", "mtriple": triple, "mcpu": host_cpu()}


def make_target(kind: str) -> tvm.target.Target:
    """Build the TVM target for ``kind``."""
    return tvm.target.Target(target_config(kind))
