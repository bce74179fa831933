"""What every entry checks on the numpy arrays it reads and writes: one home for the rules.

The numpy API (:func:`bce_grad.binary_cross_entropy_backward`, the device-array path's numpy
arguments included), :meth:`bce_grad.runtime.Runtime.backward` and the ``bce-grad run``
command all go through these functions, so the rules cannot drift apart:

- an input in a non-native byte order (``>f4`` on a little-endian machine) is converted to
  the native order (a copy): kernels read memory as native numbers;
- ``out`` must be writeable (not ``np.frombuffer`` of ``bytes``, ``np.load(mmap_mode="r")``,
  ``flags.writeable = False``) and in the native byte order, else E80000 naming ``out``:
  the runtime writes through a raw pointer, which would change immutable objects or crash on
  a read-only mapping.
"""
from __future__ import annotations

import sys
from typing import Any

import numpy as np

from bce_grad.host_backend.errors import OpValueError
from bce_grad.op_support import OP_NAME


def native_order(array: np.ndarray) -> np.ndarray:
    """``array`` itself when its byte order is native (or has none), else a native copy."""
    if array.dtype.isnative:
        return array
    return array.astype(array.dtype.newbyteorder("="))


def native_inputs(arrays: list) -> list:
    """``arrays`` (numpy arrays or None) in the native byte order: the list itself when every
    one is already (no copy, the usual case), else a new list with :func:`native_order` copies."""
    for array in arrays:
        if array is not None and not array.dtype.isnative:
            return [a if a is None else native_order(a) for a in arrays]
    return arrays


def out_problems(out: np.ndarray) -> list[str]:
    """What makes the numpy array ``out`` unusable as an output, in words (empty when none).

    Rules: writeable, and native byte order.
    """
    problems = []
    if not out.flags.writeable:
        problems.append("it should be writeable, but actually is read-only (np.frombuffer of "
                        "bytes, np.load with mmap_mode='r', flags.writeable=False, ...)")
    if not out.dtype.isnative:
        problems.append(f"its byte order should be native ({sys.byteorder}-endian), but "
                        f"actually is [{out.dtype.str}]")
    return problems


def unusable_out(problems: list[str]) -> OpValueError:
    """The E80000 error naming ``out`` for ``problems`` (see :func:`out_problems`)."""
    return OpValueError("E80000", f"the parameter[out] is unusable: {'; '.join(problems)}",
                        OP_NAME, "out")


def check_out(out: Any) -> None:
    """Refuse a numpy ``out`` that :func:`out_problems` finds unusable (E80000 naming ``out``);
    anything else is left to the caller's own checks."""
    if isinstance(out, np.ndarray) and not (out.flags.writeable and out.dtype.isnative):
        raise unusable_out(out_problems(out))
