"""``tbe.dsl.build``: compile scheduled cases into ``kernel_meta/<name>.{so,o,json}``.

The ``.so`` holds one function per case; it is what the host loads and runs. The
``.o`` is the kernel's object code as LLVM emitted it (the relocatable ELF object the
``.so`` is linked from; several objects, as a CUDA build has, are merged with
``cc -r``). CANN's kernel directory holds ``<kernel>.o`` and ``<kernel>.json``, and its
tools look for both, so the host writes the object file too. The host runs the
``.so``; nothing loads the ``.o``.

The ``.json`` describes the kernel twice over:

- the host's own keys: name, SoC, backend target, each case's tensor order, dtypes
  and shapes (a dynamic dim is the name of its var), its runtime scalars, the compile
  info, a SHA-256 of the scheduled TIR and ``so_sha256``, the SHA-256 of the ``.so``
  (a loader checks it before opening the file);
- CANN's kernel-description keys (:func:`cann_kernel_keys`), as TBE's build writes them
  beside a ``.o``: ``binFileName``, ``binFileSuffix``, ``blockDim``, ``kernelName``,
  ``magic``, ``opParaSize``, ``parameters``, ``sha256`` (of the ``.o``) and
  ``workspace``. This function is the one place that decides their values.

Every file is written to a temporary name (``.<file>.<pid>.<random>``, so a cleaner
can tell an orphan of a killed build) and renamed into place: the ``.so``, then the
``.o``, the JSON last, so a crash never leaves a half-written kernel that looks
complete.

The output directory is context-local (:func:`kernel_meta_at`), and the compile
context that collected the compile info ends with the build. This module imports
``tvm`` only when it compiles, so that entry checks stay cheap.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from bce_grad.cache_root import file_sha256
from bce_grad.host_backend import platform
from bce_grad.host_backend.compile_options import strided_inputs, strided_inputs_enabled
from bce_grad.host_backend.errors import OpError
from bce_grad.host_backend.op_context import end_implicit_context, get_context

if TYPE_CHECKING:
    import tvm
    from tvm import te

    from bce_grad.host_backend.schedule import HostSchedule

KERNEL_NAME_RULE = re.compile(r"^[A-Za-z0-9_]{1,200}$")
#: The directory ``build`` writes to in this context (thread, task); None: the default.
_meta_dir: ContextVar[Path | None] = ContextVar("bce_grad_kernel_meta", default=None)

#: ``binFileSuffix``: CANN's AI Core kernels are ``<binFileName>.o``.
BIN_FILE_SUFFIX = ".o"
#: ``magic`` of a host kernel, followed by the target kind (``BCE_GRAD_HOST_LLVM``). CANN
#: writes ``RT_DEV_BINARY_MAGIC_ELF`` for AI Core kernels; no CANN runtime accepts a host
#: magic, so a host object is never handed to an NPU, and the host stand-in of the runtime
#: (:mod:`bce_grad.cann_compat.rts`) checks it.
HOST_MAGIC_PREFIX = "BCE_GRAD_HOST_"
#: Bytes the host tiling data of one launch may take (``opParaSize`` of a dynamic kernel).
HOST_TILING_CAPACITY = 4096


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


def _dim(value: tvm.ir.Expr) -> int | str:
    from tvm import tirx

    return int(value.value) if isinstance(value, tirx.IntImm) else str(value)


def _describe(tensors: Sequence[te.Tensor], outputs: Sequence[te.Tensor]) -> list[dict]:
    out_names = {t.op.name for t in outputs}
    return [{"name": t.op.name, "role": "output" if t.op.name in out_names else "input",
             "dtype": str(t.dtype), "shape": [_dim(d) for d in t.shape]} for t in tensors]


#: What Apache TVM's TIR common-subexpression pass says when it breaks a function: some
#: static shapes ((9973, 1): a prime row count over rows of one) make it hoist a value out of
#: the branch that defines it. LLVM eliminates common subexpressions again on its own.
_CSE_FAILURE = "has been used before definition"


def _compile(module, kind: str):
    """``tvm.compile`` the module; once more without TIR's CSE pass if that pass breaks it."""
    import tvm

    from bce_grad.host_backend.targets import make_target

    try:
        with tvm.transform.PassContext(opt_level=3):
            return tvm.compile(module, target=make_target(kind))
    except tvm.error.InternalError as err:
        if _CSE_FAILURE not in str(err):
            raise
    with tvm.transform.PassContext(opt_level=3, config={"tirx.disable_cse_tir": True}):
        return tvm.compile(module, target=make_target(kind))


def is_dynamic(meta: dict) -> bool:
    """Whether a kernel has symbolic dims or runtime scalars (its launch takes tiling data).

    Parameters
    ----------
    meta : dict
        The host keys of a kernel's JSON (``cases`` is read).
    """
    return any(case["scalars"] or any(isinstance(d, str) for t in case["tensors"] for d in t["shape"])
               for case in meta["cases"])


def cann_kernel_keys(meta: dict, bin_sha256: str) -> dict:
    """CANN's kernel-description keys for a host kernel.

    Names and meanings follow what TBE's build writes beside a ``.o`` and what CANN's
    op_test_frame reads (``AscendOpKernel._parse_json_file``: ``blockDim``,
    ``kernelName``, ``magic``, ``workspace.size``, ``opParaSize``).

    Parameters
    ----------
    meta : dict
        The host keys of the kernel's JSON (``name``, ``target``, ``cases``).
    bin_sha256 : str
        SHA-256 (hex) of ``<binFileName><binFileSuffix>``, as CANN's ``sha256`` key.

    Returns
    -------
    dict
        ``binFileName`` (the kernel name), ``binFileSuffix`` (``".o"``), ``blockDim``
        (1: one host call, the kernel parallelises itself), ``kernelName`` (the stub name:
        ``<name>__kernel0`` as CANN names a static kernel's; the kernel name for a dynamic
        one, whose stubs are ``<name>_<tiling key>``), ``magic``
        (:data:`HOST_MAGIC_PREFIX` + target kind), ``opParaSize`` (bytes of tiling data:
        :data:`HOST_TILING_CAPACITY` for a dynamic kernel, 0 for a static one),
        ``parameters`` (no atomic-clean arguments: ``[]``), ``sha256`` and ``workspace``
        (none: ``{"num": 0, "size": []}``).
    """
    name = meta["name"]
    dynamic = is_dynamic(meta)
    return {
        "binFileName": name,
        "binFileSuffix": BIN_FILE_SUFFIX,
        "blockDim": 1,
        "kernelName": name if dynamic else f"{name}__kernel0",
        "magic": HOST_MAGIC_PREFIX + str(meta["target"]["kind"]).upper(),
        "opParaSize": HOST_TILING_CAPACITY if dynamic else 0,
        "parameters": [],
        "sha256": bin_sha256,
        "workspace": {"num": 0, "size": []},
    }


def _write_object(objects: Sequence[str], out: str) -> None:
    """Write the object code the ``.so`` was linked from to ``out`` (one relocatable object)."""
    found = [path for path in objects if str(path).endswith(".o")]
    if not found:
        raise OpError("E80000", "build: the parameter[target] should produce object code, but the "
                      "export linked no .o file", param_name="target")
    if len(found) == 1:
        shutil.copyfile(found[0], out)
        return
    from tvm.support import cc

    done = subprocess.run([cc.get_cc() or "cc", "-r", "-nostdlib", "-o", out, *found],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OpError("E80000", f"build: merging the kernel's objects into one .o failed: "
                      f"{done.stderr.strip()[-400:]}", param_name="target")


def umask() -> int:
    """This process's umask, read without changing it (``/proc/self/status``; elsewhere set and
    restored at once)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic_write(path: Path, write) -> None:
    """Write ``path`` through ``write(tmp)`` and a rename; it gets ``0666 & ~umask`` as any file
    a program creates (``mkstemp``'s temporary is ``0600``)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build(sch: HostSchedule | Sequence[HostSchedule], config: dict) -> Path:
    """Compile ``sch`` and write ``kernel_meta/<name>.so``, ``.o`` and ``.json``.

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

    from bce_grad.host_backend.targets import target_config

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
    executable = _compile(module, kind)
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
    bin_path = out_dir / f"{name}{BIN_FILE_SUFFIX}"
    json_path = out_dir / f"{name}.json"
    linked: list[str] = []

    def link(output: str, objects: list, **kwargs: object) -> object:
        from tvm.support import cc

        linked[:] = [str(o) for o in objects]
        return cc.create_shared(output, objects, **kwargs)

    with tempfile.TemporaryDirectory(prefix="bce_grad_objects.") as workspace:
        def export(tmp: str) -> None:
            executable.export_library(tmp, fcompile=link, workspace_dir=workspace)
            meta["so_sha256"] = file_sha256(tmp)

        def write_object(tmp: str) -> None:
            _write_object(linked, tmp)
            meta.update(cann_kernel_keys(meta, file_sha256(tmp)))

        _atomic_write(so_path, export)
        _atomic_write(bin_path, write_object)
    _atomic_write(json_path, lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2) + "\n"))
    return json_path
