"""Build what a binary wheel ships (:mod:`bce_grad.runtime.prebuilt` names it): run by
``setup.py``'s build step, never on a user's machine."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

from bce_grad.runtime import prebuilt

#: The framework adapters a wheel may ship: (import name, the module whose library_path()
#: builds it). Each is built when its framework is importable where the wheel is built.
ADAPTERS = (("torch", "bce_grad.torch._build"), ("tensorflow", "bce_grad.tensorflow._build"),
            ("mindspore", "bce_grad.mindspore._build"))


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
    log(f"prebuilt: the native runtime -> {root / 'runtime' / prebuilt.RUNTIME_NAME}")
    runtime_build.compile_library(root / "runtime" / prebuilt.RUNTIME_NAME)
    saved = os.environ.get(prebuilt.MCPU_ENV)
    try:
        for level in prebuilt.LEVELS:
            os.environ[prebuilt.MCPU_ENV] = level
            specs = package_kernel_set(prebuilt.SOC, prebuilt.LEVEL_SETS[level])
            log(f"prebuilt: the {prebuilt.LEVEL_SETS[level]} package for {prebuilt.SOC}, {level} "
                f"({len(specs)} kernels)")
            build_package(root / "packages" / level, prebuilt.SOC, specs, jobs=jobs, log=log)
    finally:
        if saved is None:
            os.environ.pop(prebuilt.MCPU_ENV, None)
        else:
            os.environ[prebuilt.MCPU_ENV] = saved
    for framework, module in ADAPTERS:
        # each in a process of its own, which imports one framework and ends without running
        # exit handlers (TensorFlow and MindSpore in one process crashed in theirs)
        code = ("import os, sys, json; from bce_grad.runtime.prebuilt_build import _build_adapter; "
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
