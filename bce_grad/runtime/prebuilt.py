"""What a binary wheel ships built: the native runtime and the default kernel package per CPU level.

A wheel (``pip wheel .``) holds, under ``bce_grad/_prebuilt/``:

- ``runtime/libbce_grad_runtime.so``: the native runtime, so that no C++ compiler is needed;
- ``packages/<level>/``: a kernel package for :data:`SOC`, compiled for each x86-64 level of
  :data:`LEVELS` (``x86-64-v4``: AVX-512; ``x86-64-v3``: AVX2, FMA, F16C; ``x86-64-v2``:
  SSE4.2), of the kernel set :data:`LEVEL_SETS` names. The runtime refuses a package whose CPU
  features this machine lacks, so the first level that opens is the best one this CPU runs.

They serve calls exactly when a package built here would: SoC :data:`SOC`, the CPU target
(``BCE_GRAD_TARGET`` unset or ``llvm``), no ``BCE_GRAD_MCPU`` and the ``default`` kernel set.
Anything else (another SoC, a rare pattern the package lacks) compiles the one kernel it needs,
as an editable checkout does for everything. An editable checkout has no ``_prebuilt``.

This module only names them (it imports nothing of the runtime):
:func:`bce_grad.runtime.packages.shipped_package` picks the package this CPU runs, and
:mod:`bce_grad.runtime.prebuilt_build` builds them when a wheel is built.
"""
from __future__ import annotations

import json
from pathlib import Path

#: Where a wheel keeps them; absent in a checkout.
PREBUILT_DIR = Path(__file__).resolve().parent.parent / "_prebuilt"
#: The SoC the shipped packages serve (the default SoC).
SOC = "Ascend910B1"
#: x86-64 levels, best first.
LEVELS = ("x86-64-v4", "x86-64-v3", "x86-64-v2")
#: The kernel set shipped per level. x86-64-v2 has no F16C: its float16 kernels convert with
#: integer vector code that LLVM takes ~20 s a kernel to compile (10 minutes for the default
#: set), so that level ships the float32 kernels; its other dtypes compile on first use.
LEVEL_SETS = {"x86-64-v4": "default", "x86-64-v3": "default", "x86-64-v2": "minimal"}
RUNTIME_NAME = "libbce_grad_runtime.so"
TARGET_ENV, MCPU_ENV = "BCE_GRAD_TARGET", "BCE_GRAD_MCPU"


def runtime_library(root: Path = PREBUILT_DIR) -> Path | None:
    """The shipped runtime library, or None (a checkout: build it)."""
    path = root / "runtime" / RUNTIME_NAME
    return path if path.is_file() else None


def adapter_library(stem: str, identity: str, root: Path = PREBUILT_DIR) -> Path | None:
    """The shipped adapter ``<stem>.so`` when it was built against ``identity`` (the framework's
    version and ABI, as ``framework_library`` keys it), else None: built on first use."""
    path = root / "adapters" / f"{stem}.so"
    record = root / "adapters" / f"{stem}.json"
    if not path.is_file() or not record.is_file():
        return None
    try:
        built_for = json.loads(record.read_text(encoding="utf-8")).get("identity")
    except (OSError, ValueError, AttributeError):
        return None
    return path if built_for == identity else None


def manifest_with_environment(package: Path, environment: dict[str, str | None]) -> dict:
    """``package``'s manifest plus an ``environment`` to check (``Runtime(package,
    manifest=...)``): calls made after one of those variables changed are refused."""
    manifest = json.loads((package / "manifest.json").read_text(encoding="utf-8"))
    manifest["environment"] = environment
    return manifest
