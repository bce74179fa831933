"""CANN's kernel description beside a host kernel, as ``build`` writes it.

CANN's op_test_frame checks that ``kernel_meta/<kernel>.o`` exists and reads ``blockDim``,
``kernelName``, ``magic``, ``workspace`` and ``opParaSize`` from ``<kernel>.json``
before it hands the binary to its runtime. The host's ``tbe.dsl.build``
(:mod:`bce_grad.host_backend.build`) writes ``<kernel>.o`` and those keys itself; it is the
one place that decides them (:func:`~bce_grad.host_backend.build.cann_kernel_keys`). This
module only re-exports the names the compat layer uses and checks that a kernel carries
its description (:func:`describe`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from bce_grad.host_backend.build import (  # noqa: F401 - re-exported for the compat layer
    BIN_FILE_SUFFIX, HOST_MAGIC_PREFIX, HOST_TILING_CAPACITY, cann_kernel_keys, file_sha256, is_dynamic,
)

#: The CANN keys a described kernel's JSON carries.
CANN_KEYS = ("binFileName", "binFileSuffix", "blockDim", "kernelName", "magic", "opParaSize",
             "parameters", "sha256", "workspace")


def describe(json_path: str | os.PathLike) -> Path:
    """Check that the host kernel at ``json_path`` carries CANN's description; return its ``.o``.

    Parameters
    ----------
    json_path : str or PathLike
        ``<kernel>.json`` written by the host ``build``.

    Returns
    -------
    Path
        ``<binFileName><binFileSuffix>`` beside the JSON.

    Raises
    ------
    FileNotFoundError
        When the JSON lacks CANN's keys, or the object file it names is missing or does
        not match its ``sha256`` (a kernel from an older build: rebuild it).
    """
    json_path = Path(json_path)
    meta = json.loads(json_path.read_text())
    missing = [key for key in CANN_KEYS if key not in meta]
    if missing:
        raise FileNotFoundError(f"{json_path} lacks CANN's kernel-description keys "
                                f"{', '.join(missing)}; rebuild the kernel with bce_grad's build")
    bin_path = json_path.with_name(f"{meta['binFileName']}{meta['binFileSuffix']}")
    if not bin_path.is_file() or file_sha256(bin_path) != meta["sha256"]:
        raise FileNotFoundError(f"{bin_path} is missing or does not match the sha256 of "
                                f"{json_path.name}; rebuild the kernel")
    return bin_path
