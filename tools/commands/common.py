"""Options and file handling shared by the ``bce-grad`` subcommands."""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import ml_dtypes
import numpy as np

from bce_grad.host_backend.errors import OpError
from bce_grad.host_backend.platform import DEFAULT_SOC_VERSION

DTYPES = ("float16", "bfloat16", "float32")
REDUCTIONS = ("none", "mean", "sum")
NUMPY_DTYPES = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32}


def add_soc_option(parser: argparse.ArgumentParser) -> None:
    """``--soc``: the full SoC version to compile for."""
    parser.add_argument("--soc", default=DEFAULT_SOC_VERSION, metavar="SOC_VERSION",
                        help=f"full SoC version, such as Ascend910A, Ascend910B1, Ascend910_9391, "
                             f"Ascend310P3 or Ascend950PR_9599 (default: {DEFAULT_SOC_VERSION})")


def add_reduction_option(parser: argparse.ArgumentParser) -> None:
    """``--reduction``: none, mean or sum."""
    parser.add_argument("--reduction", default="mean", choices=REDUCTIONS,
                        help="'mean' scales by 1/numel(x); 'none' and 'sum' do not (default: mean)")


def load_npy(path: str, param: str) -> np.ndarray:
    """Load a .npy file for parameter ``param``; a clear error names the option and file."""
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise OpError("E80000", f"the parameter[{param}] should name an existing .npy file, but "
                      f"[{path}] does not exist", param_name=param) from None
    except (ValueError, OSError) as err:
        raise OpError("E80000", f"the parameter[{param}] should name a readable .npy file, but "
                      f"[{path}] is not one ({err})", param_name=param) from None


def cast_input(array: np.ndarray, dtype: str | None, param: str) -> np.ndarray:
    """Cast ``array`` to ``dtype`` (round to nearest even), or check it is a float dtype."""
    if dtype:
        return array.astype(NUMPY_DTYPES[dtype])
    if str(array.dtype) not in DTYPES:
        raise OpError("E80008", f"the parameter[{param}] dtype should be one of {list(DTYPES)}, "
                      f"but actually is [{array.dtype}]; pass --dtype to cast", param_name=param)
    return array


def save_npy_atomic(path: str, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` through a temporary file, so no partial file is left."""
    target = Path(path)
    if not target.parent.is_dir():
        raise OpError("E80000", f"the parameter[--out] should be in an existing directory, but "
                      f"[{target.parent}] does not exist", param_name="--out")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".npy", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, array, allow_pickle=False)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
