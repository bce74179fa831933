"""The kernel cache: one compiled kernel per (SoC, target, dtypes, pattern, reduction, source).

A key hashes everything that changes the generated code: the SoC family, the
backend target and CPU, the input and output dtypes, the broadcast pattern, the
reduction, whether weight is present, the TVM version, and the text of every
source file of the operator and the host backend. Kernels live under
``$BCE_GRAD_CACHE`` (default ``~/.cache/bce-grad/kernels``) as ``kernel_meta``
files, so a new process reuses a kernel an earlier one built.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Mapping

import numpy as np
import tvm

from bce_grad.host_backend import platform
from bce_grad.resources import host_backend_dir, impl_dir
from bce_grad.host_backend.build import kernel_meta_at
from bce_grad.host_backend.dsl.classify import UNKNOWN_DIM, canonical_pattern
from bce_grad.host_backend.soc_table import SocInfo
from bce_grad.host_backend.targets import target_config



def cache_dir() -> Path:
    """Where kernels are cached: ``$BCE_GRAD_CACHE`` or ``~/.cache/bce-grad/kernels``."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bce-grad" / "kernels"
    return Path(os.environ.get("BCE_GRAD_CACHE", default))


@functools.lru_cache(maxsize=None)
def source_hash() -> str:
    """SHA-256 over the operator's and the host backend's source files."""
    digest = hashlib.sha256()
    for folder in (impl_dir(), host_backend_dir()):
        for path in sorted(folder.rglob("*")):
            if path.suffix in (".py", ".json") and "__pycache__" not in path.parts:
                digest.update(f"{folder.name}/{path.relative_to(folder).as_posix()}".encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def kernel_key(dtypes: Mapping[str, str], pattern: list[tuple[int, ...]], out_dtype: str,
               reduction: str, info: SocInfo) -> str:
    """The content key of one kernel."""
    masks = [[d == 1 for d in shape] for shape in pattern]
    blob = json.dumps({
        "soc": info.short_soc_version, "target": target_config(platform.backend_target()),
        "dtypes": dict(dtypes), "out": out_dtype, "pattern": masks, "reduction": reduction,
        "tvm": tvm.__version__, "source": source_hash(),
    }, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def get_or_build(arrays: Mapping[str, np.ndarray], out_dtype: str, reduction: str,
                 info: SocInfo) -> tuple[Path, list[tuple[int, ...]]]:
    """Return the kernel JSON for these inputs (building it if needed) and their pattern.

    Parameters
    ----------
    arrays : mapping of str to numpy.ndarray
        The inputs by name, x first, in the operator's order.
    out_dtype, reduction : str
        The output dtype and the reduction.
    info : SocInfo
        The SoC compiled for.
    """
    from impl.dynamic.binary_cross_entropy_grad import binary_cross_entropy_grad

    pattern = canonical_pattern([a.shape for a in arrays.values()])
    dtypes = {name: str(a.dtype) for name, a in arrays.items()}
    key = kernel_key(dtypes, pattern, out_dtype, reduction, info)
    name = f"bce_grad_{key}"
    json_path = cache_dir() / f"{name}.json"
    if json_path.exists():
        return json_path, pattern
    descs = {n: {"shape": [UNKNOWN_DIM if d != 1 else 1 for d in shape], "dtype": dtypes[n],
                 "format": "ND"} for n, shape in zip(arrays, pattern)}
    output = {"shape": descs["x"]["shape"], "dtype": out_dtype, "format": "ND"}
    with kernel_meta_at(cache_dir()):
        binary_cross_entropy_grad(descs["x"], descs["y"], descs["grad_output"], descs.get("weight"),
                                  output, reduction, name)
    return json_path, pattern
