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
"""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

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
_TARGET_ENV, _MCPU_ENV, _SET_ENV = "BCE_GRAD_TARGET", "BCE_GRAD_MCPU", "BCE_GRAD_PACKAGE_SET"


def runtime_library(root: Path = PREBUILT_DIR) -> Path | None:
    """The shipped runtime library, or None (a checkout: build it)."""
    path = root / "runtime" / RUNTIME_NAME
    return path if path.is_file() else None


def serves(soc_version: str) -> bool:
    """Whether shipped packages may serve calls for this SoC in this environment."""
    return (soc_version == SOC
            and os.environ.get(_TARGET_ENV, "llvm").strip() in ("", "llvm")
            and not os.environ.get(_MCPU_ENV, "").strip()
            and any((PREBUILT_DIR / "packages" / level / "manifest.json").is_file()
                    for level in LEVELS))


def package_dir(soc_version: str, set_name: str | None = None) -> Path | None:
    """The shipped package of the best level this CPU runs, or None where none serves.

    ``set_name``: only a package of that kernel set (the framework adapters ask for the set
    they would build); None takes any, the numpy API compiling what it lacks.
    """
    if not serves(soc_version):
        return None
    for level in LEVELS:
        path = PREBUILT_DIR / "packages" / level
        if set_name in (None, LEVEL_SETS[level]) and _runs_here(str(path)):
            return path
    return None


@functools.lru_cache(maxsize=None)
def _runs_here(path: str) -> bool:
    """Whether the shipped package at ``path`` opens on this CPU (asked once per process: the
    CPU and the installed files do not change; ``default_package`` asks on every resolution)."""
    from bce_grad.host_backend.errors import OpError
    from bce_grad.runtime.native import Runtime

    if not os.path.isfile(os.path.join(path, "manifest.json")):
        return False
    try:
        Runtime(path).close()  # refuses a package that needs CPU features this one lacks
    except OpError:
        return False
    return True


#: The framework adapters a wheel may ship: (import name, the module whose library_path()
#: builds it). Each is built when its framework is importable where the wheel is built.
ADAPTERS = (("torch", "bce_grad.torch._build"), ("tensorflow", "bce_grad.tensorflow._build"),
            ("mindspore", "bce_grad.mindspore._build"))


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


def build(root: Path, jobs: int = 1, log: Callable[[str], None] | None = None) -> None:
    """Build what a wheel ships into ``root`` (``<build_lib>/bce_grad/_prebuilt``).

    Needs a C++ compiler and the ``tvm`` compiler: it runs when the wheel is built, never on a
    user's machine.
    """
    from bce_grad.runtime import build as runtime_build
    from bce_grad.runtime.kernel_set import build_package
    from bce_grad.runtime.packages import package_kernel_set

    log = log or print
    (root / "runtime").mkdir(parents=True, exist_ok=True)
    log(f"prebuilt: the native runtime -> {root / 'runtime' / RUNTIME_NAME}")
    runtime_build.compile_library(root / "runtime" / RUNTIME_NAME)
    saved = os.environ.get(_MCPU_ENV)
    try:
        for level in LEVELS:
            os.environ[_MCPU_ENV] = level
            specs = package_kernel_set(SOC, LEVEL_SETS[level])
            log(f"prebuilt: the {LEVEL_SETS[level]} package for {SOC}, {level} "
                f"({len(specs)} kernels)")
            build_package(root / "packages" / level, SOC, specs, jobs=jobs, log=log)
    finally:
        if saved is None:
            os.environ.pop(_MCPU_ENV, None)
        else:
            os.environ[_MCPU_ENV] = saved
    for framework, module in ADAPTERS:
        # each in a process of its own, which imports one framework and ends without running
        # exit handlers (TensorFlow and MindSpore in one process crashed in theirs)
        code = ("import os, sys, json; from bce_grad.runtime.prebuilt import _build_adapter; "
                "_build_adapter(*sys.argv[1:4], print); sys.stdout.flush(); os._exit(0)")
        done = subprocess.run([sys.executable, "-c", code, framework, module,
                               str(root / "adapters")], capture_output=True, text=True)
        for line in done.stdout.splitlines():
            log(line)
        if done.returncode != 0:
            raise RuntimeError(f"building the {framework} adapter failed (exit status "
                               f"{done.returncode}):\n{done.stderr[-3000:]}")


def _build_adapter(framework: str, module: str, folder: str | Path,
                   log: Callable[[str], None]) -> None:
    """Build one adapter into ``folder`` as ``<stem>.so`` + ``<stem>.json`` (its identity), when
    its framework imports here; else say it is left to first use."""
    import importlib
    import shutil
    import tempfile

    folder = Path(folder)
    try:
        importlib.import_module(framework)
    except ImportError:
        log(f"prebuilt: {framework} is not importable here: its adapter builds on first use")
        return
    build = importlib.import_module(module)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as work:
        built = Path(build.library_path(Path(work)))
        stem = built.name.rsplit("-", 1)[0]
        shutil.copy2(built, folder / f"{stem}.so")
    identity = build.identity()
    (folder / f"{stem}.json").write_text(json.dumps({"identity": identity}), encoding="utf-8")
    log(f"prebuilt: the {framework} adapter ({identity}) -> {folder / (stem + '.so')}")
