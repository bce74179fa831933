"""Options and file handling shared by the ``bce-grad`` subcommands.

Everything here imports only the standard library at module level, so building the
parser (``bce-grad --help``) stays fast; numpy loads when a file is read or written.
"""
from __future__ import annotations

import argparse
import os
import stat
from typing import TYPE_CHECKING

from bce_grad.host_backend.errors import OpError
from bce_grad.op_support import DTYPES, REDUCTIONS, numpy_dtype  # noqa: F401  (the one table)
from bce_grad.tools.deploy.files import write_output

if TYPE_CHECKING:
    import numpy as np

#: The first bytes of every .npy file.
NPY_MAGIC = b"\x93NUMPY"


def soc_arg(text: str) -> str:
    """argparse type of ``--soc``: any spelling of a known SoC (see ``canonical_soc``)."""
    from bce_grad.host_backend.soc_table import canonical_soc

    try:
        return canonical_soc(text)
    except OpError as err:
        raise argparse.ArgumentTypeError(err.detail) from None


def add_soc_option(parser: argparse.ArgumentParser) -> None:
    """``--soc``: the SoC to compile for; default ``$BCE_GRAD_SOC``, else Ascend910B1."""
    parser.add_argument("--soc", type=soc_arg, default=None, metavar="SOC",
                        help="SoC version, full (Ascend910B1), short (Ascend910B) or as op_info_cfg "
                             "names it (ascend910b), any case (default: $BCE_GRAD_SOC, else "
                             "Ascend910B1)")


def resolve_soc(soc: str | None) -> str:
    """The SoC a subcommand uses: ``--soc`` when given, else the API's default rule."""
    from bce_grad.host_backend import platform

    return soc if soc else platform.default_soc()


def add_reduction_option(parser: argparse.ArgumentParser) -> None:
    """``--reduction``: none, mean or sum."""
    parser.add_argument("--reduction", default="mean", choices=REDUCTIONS,
                        help="'mean' scales by 1/numel(x); 'none' and 'sum' do not (default: mean)")


def _input_error(param: str, path: str, rule: str) -> OpError:
    return OpError("E80000", f"the parameter[{param}] should name {rule}, but actually is [{path}]",
                   param_name=param)


def load_npy(path: str, param: str) -> np.ndarray:
    """Load one array from a ``.npy`` file for option ``param``.

    The file must be a regular file holding one array in NumPy's ``.npy`` format. A
    two-byte void dtype (``|V2``, how ``np.save`` stores ``ml_dtypes.bfloat16``) is
    read as bfloat16. Every other problem is an :class:`OpError` naming the option.
    """
    import numpy as np

    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise _input_error(param, path, "an existing .npy file (no such file)") from None
    except NotADirectoryError:
        raise _input_error(param, path, "an existing .npy file (a parent is not a "
                                        "directory)") from None
    except OSError as err:
        raise _input_error(param, path, f"a readable .npy file ({err.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise _input_error(param, path, "a regular .npy file (this is a directory, FIFO or "
                                        "device)")
    try:
        with open(path, "rb") as handle:
            if handle.read(len(NPY_MAGIC)) != NPY_MAGIC:
                what = "empty" if info.st_size == 0 else "not in NumPy's .npy format"
                raise _input_error(param, path, f"a .npy file (the file is {what}; .npz, text and "
                                                f"pickles are not accepted)")
            handle.seek(0)
            array = np.load(handle, allow_pickle=False)
    except OpError:
        raise
    except (ValueError, OSError, EOFError) as err:
        raise _input_error(param, path, f"a complete .npy file ({err})") from None
    if array.dtype == np.dtype("V2"):
        array = array.view(numpy_dtype("bfloat16"))
    return array


def cast_input(array: np.ndarray, dtype: str | None, param: str) -> np.ndarray:
    """Cast ``array`` to ``dtype`` (round to nearest even), or check it is a float dtype.

    A file in a non-native byte order (``>f4``) is converted first, as the API converts its
    arguments (:func:`bce_grad.array_checks.native_order`).
    """
    from bce_grad.array_checks import native_order

    array = native_order(array)
    if dtype:
        return array.astype(numpy_dtype(dtype))
    if str(array.dtype) not in DTYPES:
        raise OpError("E80008", f"the parameter[{param}] dtype should be one of {list(DTYPES)}, "
                      f"but actually is [{array.dtype}]; pass --dtype to cast", param_name=param)
    return array


def save_npy(path: str, array: np.ndarray, param: str = "--out") -> None:
    """Write ``array`` as ``.npy`` to ``path`` safely (see :func:`files.write_output`).

    bfloat16 keeps its bits: ``np.save`` stores it as ``|V2``; read it back with
    ``np.load(path).view(ml_dtypes.bfloat16)`` (``bce-grad run`` does so itself).
    """
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    write_output(path, buffer.getvalue(), param)
