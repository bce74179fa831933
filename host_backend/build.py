"""``tbe.dsl.build``: compile scheduled cases into ``kernel_meta/<name>.{so,json}``.

The ``.so`` holds one function per case. The ``.json`` describes the kernel:
name, SoC, backend target, each case's tensor order, dtypes and shapes (a
dynamic dim is the name of its var), its runtime scalars, the compile info and
a SHA-256 of the scheduled TIR, plus ``so_sha256``, the SHA-256 of the ``.so``
(a loader checks it before opening the file). Both files are written to temporary
names (``.<file>.<pid>.<random>``, so a cleaner can tell an orphan of a killed
build) and renamed into place, the JSON last, so a crash never leaves a
half-written kernel that looks complete.

The output directory is context-local (:func:`kernel_meta_at`), and the compile
context that collected the compile info ends with the build. This module imports
``tvm`` only when it compiles, so that entry checks stay cheap.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from bce_grad.host_backend import platform
from bce_grad.host_backend.errors import OpError
from bce_grad.host_backend.op_context import end_implicit_context, get_context

if TYPE_CHECKING:
    import tvm
    from tvm import te

    from bce_grad.host_backend.schedule import HostSchedule

KERNEL_NAME_RULE = re.compile(r"^[A-Za-z0-9_]{1,200}$")
#: The directory ``build`` writes to in this context (thread, task); None: the default.
_meta_dir: ContextVar[Path | None] = ContextVar("bce_grad_kernel_meta", default=None)
#: Whether compiles in this context declare their inputs with symbolic strides (generic kernels).
_strided: ContextVar[bool] = ContextVar("bce_grad_strided_inputs", default=False)


def check_kernel_name(kernel_name: str, param_name: str = "kernel_name") -> None:
    """Refuse a kernel name that breaks CANN's rule: ``[A-Za-z0-9_]``, 1 to 200 characters."""
    if not isinstance(kernel_name, str) or not KERNEL_NAME_RULE.match(kernel_name):
        shown = kernel_name if not isinstance(kernel_name, str) or len(kernel_name) <= 60 \
            else kernel_name[:60] + "..."
        raise OpError("E80000", f"the parameter[{param_name}] should contain only letters, digits "
                      f"and '_' and be 1 to 200 characters long, but actually is [{shown}]",
                      param_name=param_name)


def kernel_meta_dir() -> Path:
    """Where ``build`` writes: ``$BCE_GRAD_KERNEL_META``, else ``./kernel_meta`` as CANN does."""
    chosen = _meta_dir.get() or os.environ.get("BCE_GRAD_KERNEL_META") or "kernel_meta"
    return Path(chosen)


@contextmanager
def kernel_meta_at(path: str | os.PathLike) -> Iterator[Path]:
    """Make ``build`` write under ``path`` in this context (thread, task) until the block ends."""
    token = _meta_dir.set(Path(path))
    try:
        yield Path(path)
    finally:
        _meta_dir.reset(token)


@contextmanager
def strided_inputs(enabled: bool = True) -> Iterator[None]:
    """Compile generic strided kernels in this context until the block ends.

    Inside it, ``classify`` keeps every axis of the descriptions (no merging), and ``build``
    declares each input buffer with one symbolic stride per axis (see
    :mod:`~bce_grad.host_backend.schedule.alignment`), so a broadcast input is passed with
    x's shape and stride 0 on its broadcast axes and read in place. The build config key
    ``strided_inputs`` does the same for one ``build``.
    """
    token = _strided.set(bool(enabled))
    try:
        yield
    finally:
        _strided.reset(token)


def strided_inputs_enabled() -> bool:
    """Whether this context compiles generic strided kernels (:func:`strided_inputs`)."""
    return _strided.get()


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _dim(value: tvm.ir.Expr) -> int | str:
    from tvm import tirx

    return int(value.value) if isinstance(value, tirx.IntImm) else str(value)


def _describe(tensors: Sequence[te.Tensor], outputs: Sequence[te.Tensor]) -> list[dict]:
    out_names = {t.op.name for t in outputs}
    return [{"name": t.op.name, "role": "output" if t.op.name in out_names else "input",
             "dtype": str(t.dtype), "shape": [_dim(d) for d in t.shape]} for t in tensors]


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build(sch: HostSchedule | Sequence[HostSchedule], config: dict) -> Path:
    """Compile ``sch`` and write ``kernel_meta/<name>.so`` and ``.json``.

    Parameters
    ----------
    sch : HostSchedule or list of HostSchedule
        One schedule per case, from ``auto_schedule``.
    config : dict
        ``name`` (the kernel name) and ``tensor_list`` (one list of tensors per
        case, or one flat list for a single case), as CANN's build takes.

    Returns
    -------
    Path
        The JSON file describing the kernel.
    """
    try:
        if "strided_inputs" in config:
            with strided_inputs(bool(config["strided_inputs"])):
                return _build(sch, config)
        return _build(sch, config)
    finally:
        end_implicit_context()  # the compile ends here; the next one starts with empty info


def _build(sch: HostSchedule | Sequence[HostSchedule], config: dict) -> Path:
    import tvm
    from tvm import te

    from bce_grad.host_backend.targets import make_target, target_config

    name = config.get("name", "")
    check_kernel_name(name)
    schedules = list(sch) if isinstance(sch, (list, tuple)) else [sch]
    tensor_lists = config.get("tensor_list", [])
    if tensor_lists and isinstance(tensor_lists[0], te.Tensor):
        tensor_lists = [tensor_lists]
    if len(tensor_lists) != len(schedules):
        raise OpError("E80000", f"build: the parameter[tensor_list] should hold one tensor list per "
                      f"schedule ({len(schedules)}), but actually holds {len(tensor_lists)}",
                      op_name=name, param_name="tensor_list")
    funcs, cases = {}, []
    for index, (case_sch, tensors) in enumerate(zip(schedules, tensor_lists)):
        fname = name if len(schedules) == 1 else f"{name}__{index}"
        mod = case_sch.apply(list(tensors), fname)
        funcs.update({gv.name_hint: func for gv, func in mod.functions.items()})
        cases.append({"function": fname, "rule": case_sch.rule,
                      "tensors": _describe(tensors, case_sch.outputs),
                      "scalars": [{"name": v.name, "dtype": str(v.ty)} for v in case_sch.scalars]})
    module = tvm.IRModule(funcs)
    kind = schedules[0].target
    with tvm.transform.PassContext(opt_level=3):
        executable = tvm.compile(module, target=make_target(kind))
    info = platform.current_soc()
    meta = {
        "name": name,
        "soc_version": info.soc_version,
        "short_soc_version": info.short_soc_version,
        "target": target_config(kind),
        "tvm_version": tvm.__version__,
        "cases": cases,
        "compile_info": get_context().get_compile_info(),
        "strided_inputs": strided_inputs_enabled() and kind == "llvm",
        "source_sha256": hashlib.sha256(module.script().encode()).hexdigest(),
    }
    out_dir = kernel_meta_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    so_path = out_dir / f"{name}.so"

    def export(tmp: str) -> None:
        executable.export_library(tmp)
        meta["so_sha256"] = file_sha256(tmp)

    _atomic_write(so_path, export)
    json_path = out_dir / f"{name}.json"
    _atomic_write(json_path, lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2) + "\n"))
    return json_path
