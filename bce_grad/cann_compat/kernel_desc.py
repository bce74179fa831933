"""CANN's kernel description beside a host kernel: ``<kernel>.o`` and the ``.json`` keys.

CANN's op_test_frame checks that ``kernel_meta/<kernel>.o`` exists and reads ``blockDim``,
``kernelName``, ``magic``, ``workspace`` and ``opParaSize`` from ``<kernel>.json``
before it hands the binary to its runtime. On the host the binary is the ``.so`` that
``build`` wrote; ``<kernel>.o`` is a copy of its bytes (checked against ``so_sha256`` by
:mod:`bce_grad.cann_compat.rts`) and the keys describe how the host stand-in of the
runtime launches it. :func:`describe` is idempotent: a kernel that already carries the
keys (a ``build`` that writes them itself) is left alone.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

#: ``magic`` of a host kernel: no CANN runtime accepts it, the host stand-in checks it.
HOST_MAGIC_PREFIX = "BCE_GRAD_HOST_"
#: Bytes the host tiling data of one launch may take (``opParaSize`` of a dynamic kernel).
HOST_TILING_CAPACITY = 4096


def is_dynamic(meta: dict) -> bool:
    """Whether a kernel has symbolic dims or runtime scalars (its launch needs tiling data)."""
    return any(case["scalars"] or any(isinstance(d, str) for t in case["tensors"] for d in t["shape"])
               for case in meta["cases"])


def cann_keys(meta: dict) -> dict:
    """The CANN kernel-description keys for a host kernel's JSON content."""
    name = meta["name"]
    dynamic = is_dynamic(meta)
    return {
        "binFileName": name,
        "binFileSuffix": ".o",
        "blockDim": 1,  # one host call; the kernel parallelises itself
        "kernelName": name if dynamic else f"{name}__kernel0",  # CANN's stub names
        "magic": HOST_MAGIC_PREFIX + str(meta["target"]["kind"]).upper(),
        "workspace": {"num": 0, "size": []},
        "opParaSize": HOST_TILING_CAPACITY if dynamic else 0,
    }


def describe(json_path: str | os.PathLike) -> Path:
    """Write ``<kernel>.o`` and CANN's keys for the host kernel at ``json_path``; return the ``.o``."""
    json_path = Path(json_path)
    meta = json.loads(json_path.read_text())
    so_path = json_path.with_suffix(".so")
    bin_path = json_path.with_suffix(".o")
    keys = cann_keys(meta)
    if not bin_path.exists() or bin_path.stat().st_size != so_path.stat().st_size:
        _atomic(bin_path, lambda tmp: shutil.copyfile(so_path, tmp))
    if any(meta.get(k) != v for k, v in keys.items()):
        meta.update(keys)
        _atomic(json_path, lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2) + "\n"))
    return bin_path


def _atomic(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
