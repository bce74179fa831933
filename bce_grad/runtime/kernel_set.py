"""Kernel packages for the native runtime: which kernels, how they are built, the manifest.

A kernel serves one (input dtypes, output dtype, reduction class, broadcast pattern). The
pattern is the canonical form of ``canonical_pattern`` written as a key: per input, one
character per canonical axis, ``d`` a dim or ``1`` broadcast, inputs joined by ``_``
(``dd_1d_dd_d1``: x, y broadcast on axis 0, grad_output, weight broadcast on axis 1).
x is never ``1`` except in the all-ones pattern (x has one element).

Reduction classes: ``mean`` kernels take the runtime scalar ``cof`` (1/numel(x) as CANN's op
tiling rounds it: ``1.0f / d0 / d1 / ...`` in float32, computed by the runtime's C++ tiling);
they also serve none and sum exactly with cof = 1 (x * 1 == x in IEEE arithmetic), so a package
needs ``plain`` kernels (no scalar) only when asked for.

Kernels are compiled through the project's own path: the operator's dynamic entry
(``impl/dynamic``, imported as ``bce_grad._impl.dynamic``) under ``platform.use_soc`` and
``kernel_meta_at``, as the kernel cache does.

``manifest.json`` (format ``bce-grad-kernel-package``, version 1)::

    {"format": ..., "format_version": 1, "op_type": "BinaryCrossEntropyGrad",
     "soc_version": "Ascend910B1", "short_soc_version": "Ascend910B", "soc_dir": "ascend910b",
     "target": {"kind": "llvm", "mtriple": ..., "mcpu": ...}, "features": [...],
     (the runtime refuses, E61001, a package whose mtriple's architecture or LLVM ``features``
     this CPU lacks: checked with cpuid at open, before any kernel loads)
     "tvm_version": ..., "source_sha256": <kernel_cache.source_hash()>,
     "op_info": {"x": [dtypes], "y": ..., "grad_output": ..., "weight": ..., "output": ...},
     "kernels": [{"key", "name", "dtypes": [per input], "output", "reduction": "mean"|"plain",
                  "pattern", "so": "kernels/<name>.so", "json": "kernels/<name>.json",
                  "so_sha256"}]}
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import hashlib
import itertools
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from bce_grad.op_support import MAX_RANK  # generic kernels cover canonical ranks 1..MAX_RANK

FORMAT = "bce-grad-kernel-package"
FORMAT_VERSION = 1
INPUTS = ("x", "y", "grad_output", "weight")
_SHORT = {"float16": "f16", "bfloat16": "bf16", "float32": "f32"}
#: Pattern key prefix of a generic strided kernel: ``strided3`` serves every rank-3 pattern.
STRIDED = "strided"


@dataclass(frozen=True)
class KernelSpec:
    """One kernel of a package."""

    dtypes: tuple[str, ...]   # per present input, in INPUTS order
    output: str
    reduction: str            # "mean" or "plain"
    pattern: str              # the pattern key, e.g. "dd_1d_dd"

    @property
    def strided(self) -> bool:
        """A generic strided kernel (pattern ``strided<rank>``): serves every pattern of its rank."""
        return self.pattern.startswith(STRIDED)

    @property
    def rank(self) -> int:
        return int(self.pattern[len(STRIDED):]) if self.strided else len(self.pattern.split("_")[0])

    @property
    def key(self) -> str:
        """The lookup key the C++ runtime builds (``package.cc``: Package::Key)."""
        return f"{','.join(self.dtypes)}>{self.output}|{self.reduction}|{self.pattern}"

    @property
    def name(self) -> str:
        """The kernel's file name: letters, digits and ``_`` only."""
        dtypes = "_".join(_SHORT.get(d, d) for d in self.dtypes)
        return f"bce_grad_{dtypes}_to_{_SHORT.get(self.output, self.output)}_{self.reduction}_" \
               f"{self.pattern}"

    def descriptions(self) -> tuple[list[dict], dict]:
        """Input descriptions (-1 for each dim, 1 where broadcast) and the output's, for the entry."""
        masks = ["d" * self.rank] * len(self.dtypes) if self.strided else self.pattern.split("_")
        # a canonical pattern's dims other than 1 are > 1: range (2, None) makes classify compile
        # this one pattern, not its "dim may be 1" variants (the strided kernel keeps classify's
        # strided mode, one case)
        descs = [{"shape": [1 if c == "1" else -1 for c in mask], "dtype": dtype, "format": "ND",
                  **({} if self.strided else
                     {"range": [(1, 1) if c == "1" else (2, None) for c in mask]})}
                 for mask, dtype in zip(masks, self.dtypes)]
        return descs, {"shape": list(descs[0]["shape"]), "dtype": self.output, "format": "ND"}


def canonical_patterns(num_inputs: int, max_rank: int) -> list[str]:
    """Every canonical pattern key of ``num_inputs`` inputs up to ``max_rank`` axes.

    An axis is a column of broadcast flags over the inputs other than x (x is a dim on every
    axis); canonical form forbids two equal adjacent columns; plus the all-ones pattern.
    """
    columns = list(itertools.product((False, True), repeat=num_inputs - 1))
    found = ["_".join("1" * num_inputs)]
    for rank in range(1, max_rank + 1):
        for seq in itertools.product(columns, repeat=rank):
            if any(a == b for a, b in zip(seq, seq[1:])):
                continue
            masks = ["d" * rank] + ["".join("1" if col[i] else "d" for col in seq)
                                    for i in range(num_inputs - 1)]
            found.append("_".join(masks))
    return found


def common_patterns(num_inputs: int, max_rank: int) -> list[str]:
    """Every pattern up to rank 2, and above it those where at most one input broadcasts.

    These cover the usual calls: same shapes, a scalar, a row or a column of grad_output,
    weight or y, and per-channel broadcasts such as weight (1, C, 1) against (N, C, H*W).
    """
    chosen = []
    for key in canonical_patterns(num_inputs, max_rank):
        masks = key.split("_")
        broadcasters = sum("1" in m for m in masks[1:])
        if len(masks[0]) <= 2 or broadcasters <= 1:
            chosen.append(key)
    return chosen


def kernel_set(dtypes: Iterable[str], *, max_rank: int = 3, full: bool = False,
               weights: Sequence[bool] = (False, True), plain: bool = False) -> list[KernelSpec]:
    """The kernels of a package: uniform dtypes (inputs and output alike), each dtype given.

    Parameters
    ----------
    dtypes : iterable of str
        The dtypes to cover (``aot`` passes those the SoC's op info lists for every tensor).
    max_rank : int
        Highest canonical rank.
    full : bool
        Every canonical pattern up to ``max_rank``; else :func:`common_patterns`.
    weights : sequence of bool
        Without and/or with the optional weight.
    plain : bool
        Also build kernels without ``cof`` for none/sum (mean kernels serve them otherwise).
    """
    choose = canonical_patterns if full else common_patterns
    specs = []
    for dtype in dtypes:
        for with_weight in weights:
            n = 4 if with_weight else 3
            for reduction in ("mean", "plain") if plain else ("mean",):
                specs += [KernelSpec((dtype,) * n, dtype, reduction, key)
                          for key in choose(n, max_rank)]
    return specs


def generic_set(dtypes: Iterable[str], outputs: Iterable[str] | None = None) -> list[KernelSpec]:
    """Generic strided kernels, canonical ranks 1 to 8, with weight: uniform input dtypes.

    ``outputs`` (default: the input dtype) lists the output dtypes per input dtype. The
    runtime serves every pattern of rank r with the rank-r kernel; a call without weight
    passes a weight of ones with stride 0 (x * 1 == x: bit for bit the kernel without
    weight); calls with mixed input dtypes run the float32 kernels on float32 copies
    (exact: every dtype widens to float32 without rounding).
    """
    return [KernelSpec((dtype,) * 4, out, "mean", f"{STRIDED}{rank}")
            for dtype in dtypes for out in (outputs if outputs is not None else (dtype,))
            for rank in range(1, MAX_RANK + 1)]


def fast_patterns(num_inputs: int, same_shape_only: bool = False) -> list[str]:
    """Pattern keys of the compact fast paths: the calls a training loop makes most.

    Same shapes; grad_output a scalar (a mean loss's gradient); weight a scalar; a column of
    grad_output ``(N, 1)``; a row of weight ``(C,)``, with or without that column.
    """
    same = "_".join("d" * num_inputs)
    if same_shape_only:
        return [same]
    if num_inputs == 3:
        return [same, "d_d_1", "dd_dd_d1", "dd_dd_1d"]
    return [same, "d_d_1_d", "d_d_d_1", "d_d_1_1", "dd_dd_d1_dd", "dd_dd_dd_1d", "dd_dd_d1_1d"]


def fast_set(dtypes: Iterable[str], same_shape_only: bool = False,
             weights: Sequence[bool] = (False, True)) -> list[KernelSpec]:
    """Compact fast-path kernels (:func:`fast_patterns`), uniform dtypes, each given."""
    return [KernelSpec((dtype,) * n, dtype, "mean", key)
            for dtype in dtypes for n in (4 if w else 3 for w in weights)
            for key in fast_patterns(n, same_shape_only)]


def cast_generic_set(op_info: dict[str, list[str]]) -> list[KernelSpec]:
    """Generic float32-input kernels for each other output dtype the op info allows.

    With them the runtime serves mixed input dtypes and ``out_dtype`` != the inputs' dtype
    (inputs widened to float32 first, exactly).
    """
    if not all("float32" in op_info[p] for p in INPUTS):
        return []
    return generic_set(["float32"], [d for d in op_info["output"] if d != "float32"])


def op_info_dtypes(soc_version: str) -> dict[str, list[str]]:
    """The op info of ``soc_version``: param -> dtypes (``op_info_cfg``, the one source)."""
    from bce_grad.host_backend.errors import OpError
    from bce_grad.host_backend.soc_table import soc_info
    from bce_grad.op_support import SOC_DIRS, soc_dir_for_short_soc, supported_dtypes

    soc_dir = soc_dir_for_short_soc(soc_info(soc_version).short_soc_version)
    if soc_dir not in SOC_DIRS:
        raise OpError("E80000", f"the parameter[soc] should be a SoC this operator supports "
                      f"({', '.join(SOC_DIRS)} in op_info_cfg/ai_core), but actually is "
                      f"[{soc_version}]", "binary_cross_entropy_grad", "soc")
    return {p: list(supported_dtypes(soc_dir, p)) for p in (*INPUTS, "output")}


def compile_kernel(spec: KernelSpec, kernel_dir: str, soc_version: str) -> tuple[str, float]:
    """Build one kernel into ``kernel_dir`` through the dynamic entry; returns (so_sha256, seconds)."""
    from bce_grad.host_backend import platform
    from bce_grad.host_backend.build import kernel_meta_at
    from bce_grad.host_backend.compile_options import strided_inputs
    from bce_grad.host_backend.op_context import OpContext
    from bce_grad._impl.dynamic.binary_cross_entropy_grad import binary_cross_entropy_grad

    start = time.perf_counter()
    descs, output = spec.descriptions()
    descs += [None] * (4 - len(descs))
    reduction = "mean" if spec.reduction == "mean" else "none"
    with platform.use_soc(soc_version), kernel_meta_at(kernel_dir), OpContext("dynamic"), \
            strided_inputs(spec.strided):
        binary_cross_entropy_grad(*descs, output, reduction, spec.name)
    meta = json.loads((Path(kernel_dir) / f"{spec.name}.json").read_text())
    return meta["so_sha256"], time.perf_counter() - start


def _reusable(previous: dict, header: dict, out_dir: Path) -> dict[str, dict]:
    """Entries of an earlier manifest built from the same sources, SoC, target and TVM."""
    same = all(previous.get(k) == header[k] for k in
               ("format_version", "soc_version", "target", "tvm_version", "source_sha256"))
    if not same:
        return {}
    from bce_grad.host_backend.build import file_sha256

    found = {}
    for entry in previous.get("kernels", []):
        so, meta = package_file(out_dir, entry.get("so")), package_file(out_dir, entry.get("json"))
        if so is not None and meta is not None and so.is_file() and meta.is_file() \
                and file_sha256(so) == entry["so_sha256"]:
            found[entry["key"]] = entry
    return found


def package_file(package: Path, name: object) -> Path | None:
    """``package / name`` when ``name`` is a relative path that stays inside the package (no
    ``..``, no symbolic link out of it), else None: a manifest names only its own files."""
    if not isinstance(name, str) or not name or os.path.isabs(name) or ".." in Path(name).parts:
        return None
    path = package / name
    if not path.resolve().is_relative_to(package.resolve()):
        return None
    return path


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _staged(spec: KernelSpec, stage: Path, kernel_dir: str,
            soc_version: str) -> tuple[str, float | None]:
    """Link ``spec``'s kernel from ``stage`` into ``kernel_dir``, compiling it into ``stage`` first
    unless a verified copy is there (a build that was stopped left it); returns (so_sha256,
    seconds compiling, None when the copy was kept)."""
    from bce_grad.host_backend.build import file_sha256
    from bce_grad import kernel_cache

    entry = kernel_cache.Entry(spec.name, stage)
    with kernel_cache._locked(entry.lock, what=f"kernel {spec.name}"):
        seconds = None
        try:
            sha = kernel_cache._read_meta(entry)["so_sha256"]
            if file_sha256(entry.so) != sha:
                raise FileNotFoundError(entry.so)
        except (kernel_cache._Damaged, OSError):
            sha, seconds = compile_kernel(spec, str(stage), soc_version)
        for path in (entry.so, entry.obj, entry.json):  # the JSON last, as a build writes it
            target = Path(kernel_dir) / path.name
            target.unlink(missing_ok=True)
            try:
                os.link(path, target)
            except OSError:
                shutil.copyfile(path, target)
    return sha, seconds


def _unstage(specs: Sequence[KernelSpec], stage: Path) -> None:
    """Remove the staged copies of ``specs`` (the package holds them now) and ``stage`` if empty."""
    from bce_grad import kernel_cache

    for spec in specs:
        kernel_cache._remove_entry(kernel_cache.Entry(spec.name, stage))
    with contextlib.suppress(OSError):
        stage.rmdir()


def _compile_all(todo: Sequence[KernelSpec],
                 build: Callable[[KernelSpec], tuple[str, float | None]], jobs: int,
                 record: Callable[[KernelSpec, str, float | None, int], None]) -> None:
    """``build`` every spec, in ``jobs`` processes when > 1; ``record`` each as it finishes.

    Workers die with this process (SIGKILL when it exits, :mod:`build_guard`); an exception
    here (``KeyboardInterrupt`` included) kills them before it goes on.
    """
    if jobs <= 1 or not todo:
        for done, spec in enumerate(todo, 1):
            record(spec, *build(spec), done)
        return
    from bce_grad.runtime.build_guard import pool_worker_init

    context = multiprocessing.get_context("spawn")
    pool = concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context,
                                                  initializer=pool_worker_init,
                                                  initargs=(os.getpid(),))
    try:
        futures = {pool.submit(build, spec): spec for spec in todo}
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            record(futures[future], *future.result(), done)
    except BaseException:
        for process in list((pool._processes or {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def build_package(out_dir: str | os.PathLike, soc_version: str, specs: Sequence[KernelSpec],
                  jobs: int = 1, log: Callable[[str], None] | None = None,
                  stage_root: str | os.PathLike | None = None) -> dict:
    """Compile ``specs`` into ``out_dir/kernels`` and write ``out_dir/manifest.json`` last.

    Kernels an earlier manifest in ``out_dir`` built from the same sources are reused. With
    ``jobs`` > 1 kernels compile in that many processes. ``log`` gets one line per kernel.
    With ``stage_root`` (the kernel cache), each kernel is compiled into
    ``<stage_root>/aot_<hash of the sources, SoC, target, TVM>/`` as it finishes and linked into
    the package from there, so a build that is stopped (Ctrl-C, a kill) keeps its finished
    kernels and the next build of any package of that hash reuses them; the staged copies are
    removed once the manifest is written.
    """
    from bce_grad.host_backend import platform, targets
    from bce_grad.host_backend.soc_table import soc_info
    from bce_grad import kernel_cache

    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    out = Path(out_dir)
    (out / "kernels").mkdir(parents=True, exist_ok=True)
    info = soc_info(soc_version)
    with platform.use_soc(info.soc_version):
        kind = platform.backend_target()
        config = targets.target_config(kind)
        features = list(targets.config_features(config))
    header = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "op_type": "BinaryCrossEntropyGrad",
        "soc_version": info.soc_version, "short_soc_version": info.short_soc_version,
        "soc_dir": info.short_soc_version.lower(), "target": config, "features": features,
        "tvm_version": kernel_cache.tvm_version(), "source_sha256": kernel_cache.source_hash(),
        "op_info": op_info_dtypes(info.soc_version),
    }
    manifest_path = out / "manifest.json"
    previous = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    reuse = _reusable(previous, header, out)
    entries: dict[str, dict] = {}
    todo = []
    for spec in specs:
        if spec.key in reuse:
            entries[spec.key] = reuse[spec.key]
        else:
            todo.append(spec)
    start = time.perf_counter()
    log(f"aot: {len(specs)} kernels for {info.soc_version} ({len(entries)} reused, {len(todo)} to "
        f"compile with {jobs} job(s)) into {out}")

    kept: list[str] = []

    def record(spec: KernelSpec, sha: str, seconds: float | None, done: int) -> None:
        if seconds is None:
            kept.append(spec.key)
        entries[spec.key] = {
            "key": spec.key, "name": spec.name, "dtypes": list(spec.dtypes), "output": spec.output,
            "reduction": spec.reduction, "pattern": spec.pattern, "strided": spec.strided,
            "rank": spec.rank, "so": f"kernels/{spec.name}.so",
            "json": f"kernels/{spec.name}.json", "so_sha256": sha}
        elapsed = time.perf_counter() - start
        eta = elapsed / done * (len(todo) - done)
        took = "kept from a stopped build" if seconds is None else f"{seconds:.2f} s"
        log(f"aot: [{done:>{len(str(len(todo)))}}/{len(todo)}] {spec.name} ({took}; "
            f"{elapsed:.0f} s elapsed, ~{eta:.0f} s left)")

    kernel_dir = str(out / "kernels")
    stage = None
    if stage_root is None:
        build = functools.partial(compile_kernel, kernel_dir=kernel_dir, soc_version=info.soc_version)
    else:
        from bce_grad.cache_root import private_folder
        from bce_grad import kernel_cache

        blob = json.dumps({k: header[k] for k in ("format_version", "soc_version", "target",
                                                  "features", "tvm_version", "source_sha256")},
                          sort_keys=True)
        stage = Path(stage_root) / f"aot_{hashlib.sha256(blob.encode()).hexdigest()[:16]}"
        private_folder(stage_root)  # the kernel cache: created 0700, refused if others can write
        stage.mkdir(exist_ok=True)
        kernel_cache.remove_orphans(stage)  # temporary files of a build that was killed
        build = functools.partial(_staged, stage=stage, kernel_dir=kernel_dir,
                                  soc_version=info.soc_version)
    _compile_all(todo, build, jobs, record)
    manifest = dict(header, kernels=[entries[s.key] for s in specs])
    manifest["build_seconds"] = round(time.perf_counter() - start, 1)
    _write_atomic(manifest_path, json.dumps(manifest, indent=1) + "\n")
    log(f"aot: wrote {manifest_path} ({len(specs)} kernels, {len(todo) - len(kept)} compiled"
        f"{f', {len(kept)} kept from a stopped build' if kept else ''} in "
        f"{manifest['build_seconds']} s)")
    if stage is not None:
        _unstage(todo, stage)
    return manifest
