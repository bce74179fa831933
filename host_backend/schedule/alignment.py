"""Kernel arguments that accept any element-aligned address.

``te.create_prim_func`` declares every argument buffer 64-byte aligned, and TVM's
LLVM codegen turns that into ``llvm.assume`` alignment facts, so LLVM may emit
aligned vector moves. numpy arrays are only element-aligned (large ones usually
start 16 bytes past a page boundary, slices anywhere), and an aligned move on them
faults. TVM 0.27 keeps a buffer's alignment in its frozen type and refuses to
change it through ``specialize``, so the function is re-declared through its
TVMScript text with ``align`` set to the element size of each argument.
"""
from __future__ import annotations

import tvm
from tvm import tirx

_OPEN = "T.Buffer("


def _itemsize(dtype: str) -> int:
    return max(tvm.DataType(dtype).bits // 8, 1)


def _close_paren(text: str, start: int) -> int:
    """Index of the parenthesis closing the one opened just before ``start``."""
    depth = 1
    for index in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[index], 0)
        if depth == 0:
            return index
    raise RuntimeError("unbalanced TVMScript signature")


def _align_buffers(signature: str) -> str:
    out, pos = [], 0
    while (start := signature.find(_OPEN, pos)) >= 0:
        end = _close_paren(signature, start + len(_OPEN))
        args = signature[start + len(_OPEN):end]
        dtype = args.rsplit(",", 1)[-1].strip().strip('"')
        out.append(signature[pos:end] + f", align={_itemsize(dtype)})")
        pos = end + 1
    return "".join(out) + signature[pos:]


def element_aligned(func: tirx.PrimFunc) -> tirx.PrimFunc:
    """Return ``func`` with its argument buffers aligned to their element size only.

    Parameters
    ----------
    func : tirx.PrimFunc
        A function from ``te.create_prim_func``, before scheduling.
    """
    text = func.script()
    head, sep, body = text.partition("):\n")
    if not sep or "def " not in head:
        raise RuntimeError("unexpected TVMScript layout: cannot re-declare argument alignment")
    aligned = tvm.script.from_source(_align_buffers(head) + sep + body)
    for param in aligned.params:
        if tirx.is_buffer_var(param) and param.data_alignment != _itemsize(str(param.ty.dtype)):
            raise RuntimeError(f"argument {param.name} kept alignment {param.data_alignment}")
    return aligned
