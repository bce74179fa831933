"""TVM targets for the host backend: the host CPU through LLVM, and CUDA.

TVM 0.27 takes targets as dicts. ``-mcpu=native`` is refused by its LLVM, so the
CPU is named from ``llvm_get_system_cpu()`` (``znver3`` on AMD Zen 3); a generic
CPU would emulate float16 conversions in software and run many times slower.
``BCE_GRAD_MCPU`` names another LLVM CPU (``x86-64``, ``x86-64-v3``, ``haswell``...)
to compile for; it is validated against LLVM's list.

The kernel cache asks for :func:`target_config` on every call, so this module does
not import the ``tvm`` compiler package (1.5 s): :func:`host_cpu` and
:func:`target_config` load TVM's shared libraries with ``ctypes`` and call their
registered functions through ``tvm_ffi`` (0.06 s). Queries that return TVM objects
(:func:`make_target`, the feature queries) import ``tvm`` on first use.

Floating-point contraction is off on every target: CANN's vector unit rounds
each op, so ``vadd(vmul(a, b), c)`` must round twice. TVM's LLVM codegen fixes
``AllowFPOpFusion = Fast`` and turns ``a * b + c`` into ``llvm.fmuladd``, and no
target option undoes that, so the DSL fences each product
(:mod:`bce_grad.host_backend.dsl.ops`); for CUDA the same fence is ``__fmul_rn``.
"""
from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import platform as _platform
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from bce_grad.host_backend.errors import OpError

if TYPE_CHECKING:
    import tvm

#: Environment variable naming the LLVM CPU to compile for instead of the host's.
MCPU_ENV = "BCE_GRAD_MCPU"
_TVM_LIBRARIES = ("libtvm_runtime.so", "libtvm_compiler.so")
#: Widest vector register (bits) each LLVM feature gives; the first one present wins.
_VECTOR_BITS = (("avx512f", 512), ("avx", 256), ("sse2", 128), ("neon", 128))
#: Features (by prefix) that LLVM may use in a kernel's code. System features (``pku``,
#: ``rdpru``, ``wbnoinvd``...) are left out: VMs often mask them and kernels never need them.
_CODEGEN_FEATURES = ("sse", "ssse3", "avx", "f16c", "fma", "bmi", "popcnt", "lzcnt", "movbe",
                     "cmov", "cx16", "gfni", "amx", "neon", "sve", "fullfp16")


@functools.lru_cache(maxsize=None)
def _load_tvm_libraries() -> None:
    """Load TVM's runtime and compiler libraries so their global functions exist."""
    import bce_grad.host_backend  # noqa: F401  (installs the import guard before tvm_ffi loads)
    import tvm_ffi  # noqa: F401

    if "tvm" in sys.modules:
        return
    spec = importlib.util.find_spec("tvm")
    if spec is None or not spec.submodule_search_locations:
        raise OpError("E80000", "the host backend needs the apache-tvm package, which is not "
                      "installed", param_name="tvm")
    lib_dir = Path(list(spec.submodule_search_locations)[0]) / "lib"
    for name in _TVM_LIBRARIES:
        ctypes.CDLL(str(lib_dir / name), mode=ctypes.RTLD_GLOBAL)


def _ffi(name: str):
    """The TVM global function ``name``, without importing the ``tvm`` package."""
    _load_tvm_libraries()
    import tvm_ffi

    return tvm_ffi.get_global_func(name)


def host_triple() -> str:
    """The LLVM target triple of this machine, e.g. ``x86_64-linux-gnu``."""
    return f"{_platform.machine()}-linux-gnu"


@functools.lru_cache(maxsize=None)
def _system_cpu() -> str:
    return str(_ffi("target.llvm_get_system_cpu")())


@functools.lru_cache(maxsize=None)
def _check_cpu_name(name: str, triple: str) -> str:
    if not _ffi("target.llvm_is_valid_cpu")(name, triple):
        raise OpError("E80000", f"the environment variable [{MCPU_ENV}] should name an LLVM CPU "
                      f"of {triple} (for example x86-64, x86-64-v3, haswell, znver3), but "
                      f"actually is [{name}]", param_name=MCPU_ENV)
    return name


def host_cpu() -> str:
    """The LLVM name of the CPU to compile for: ``BCE_GRAD_MCPU`` when set, else this machine's.

    Raises
    ------
    OpError
        E80000 when ``BCE_GRAD_MCPU`` is not a CPU LLVM knows for this triple.
    """
    chosen = os.environ.get(MCPU_ENV, "").strip()
    if chosen:
        return _check_cpu_name(chosen, host_triple())
    return _system_cpu()


def target_config(kind: str) -> dict:
    """The target dict for ``kind`` (``"llvm"`` or ``"cuda"``)."""
    if kind == "cuda":
        return {"kind": "cuda", "arch": os.environ.get("BCE_GRAD_CUDA_ARCH", "sm_90")}
    if kind != "llvm":
        raise OpError("E80000", f"the parameter[kind] should be llvm or cuda, but actually is "
                      f"[{kind}]", param_name="kind")
    return {"kind": "llvm", "mtriple": host_triple(), "mcpu": host_cpu()}


def make_target(kind: str) -> tvm.target.Target:
    """Build the TVM target for ``kind`` (imports the ``tvm`` compiler package)."""
    import tvm

    return tvm.target.Target(target_config(kind))


def _tvm():
    """The ``tvm`` compiler package, imported on first need.

    A TVM object (a Target, an IntImm) must not reach Python before ``tvm`` has
    registered its classes, or ``import tvm`` fails later; so every query that
    returns one goes through the package.
    """
    import tvm

    return tvm


@functools.lru_cache(maxsize=None)
def _host_feature_map() -> dict[str, bool]:
    """Every instruction-set feature LLVM's host detection knows, and whether this CPU has it."""
    _tvm()
    found = _ffi("tvm.codegen.llvm.GetHostCPUFeatures")()
    return {str(k): bool(v) for k, v in found.items()}


def host_features() -> frozenset[str]:
    """The instruction-set features this machine's CPU has, as LLVM names them."""
    return frozenset(k for k, v in _host_feature_map().items() if v)


@functools.lru_cache(maxsize=None)
def _cpu_features(triple: str, cpu: str) -> tuple[str, ...]:
    """Instruction-set features LLVM enables for ``cpu`` (tuning flags left out)."""
    target = _tvm().target.Target({"kind": "llvm", "mtriple": triple, "mcpu": cpu})
    found = _ffi("target.llvm_get_cpu_features")(target)
    names = (str(k) for k in found)
    return tuple(sorted(n for n in names if n in _host_feature_map() and n.startswith(_CODEGEN_FEATURES)))


def config_features(config: Mapping) -> tuple[str, ...]:
    """The instruction-set features a recorded target config compiles for.

    Parameters
    ----------
    config : mapping
        A dict from :func:`target_config` (as a kernel's JSON records it).
        LLVM targets give the instruction sets their CPU lets code use (tuning
        and system features left out); CUDA
        targets give ``(arch,)``.
    """
    if config.get("kind") == "cuda":
        return (str(config.get("arch", "")),)
    return _cpu_features(str(config["mtriple"]), str(config["mcpu"]))


def target_features(kind: str) -> tuple[str, ...]:
    """The LLVM features the ``kind`` target compiles for, sorted (``("avx", "avx2", ...)``)."""
    return config_features(target_config(kind))


def missing_features(config: Mapping) -> tuple[str, ...]:
    """Features a recorded target needs that this machine lacks (empty when it runs here).

    A CUDA target has no CPU requirement; an LLVM target for another architecture
    misses its whole triple.
    """
    if config.get("kind") == "cuda":
        return ()
    if str(config.get("mtriple", "")) != host_triple():
        return (f"mtriple={config.get('mtriple')}",)
    return tuple(f for f in config_features(config) if f not in host_features())


def check_target_runs_here(config: Mapping) -> bool:
    """Whether code compiled for ``config`` can run on this machine's CPU.

    Parameters
    ----------
    config : mapping
        A target dict as :func:`target_config` returns it and kernels record it.

    Returns
    -------
    bool
        False when the target needs an instruction set this CPU lacks (for
        example an AVX-512 kernel on an AVX2 machine).
    """
    return not missing_features(config)


def vector_bits(config: Mapping) -> int:
    """Width in bits of the widest vector register an LLVM target config has (128 at least)."""
    features = set(config_features(config))
    return next((bits for name, bits in _VECTOR_BITS if name in features), 128)
