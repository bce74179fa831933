"""Kernel arguments that accept any element-aligned address.

``te.create_prim_func`` declares every argument buffer 64-byte aligned, and TVM's
LLVM codegen turns that into ``llvm.assume`` alignment facts, so LLVM may emit
aligned vector moves. numpy arrays are only element-aligned (large ones usually
start 16 bytes past a page boundary, slices anywhere), and an aligned move on them
faults. TVM 0.27 keeps a buffer's alignment in its frozen type and refuses to
change it through ``specialize``, so the function is re-declared through its
TVMScript text with ``align`` set to the element size of each argument.

Generic strided kernels (``compile_options.strided_inputs``) re-declare each *input* buffer in the
same pass with one symbolic stride per axis (``<name>_stride_<axis>``, int64). TVM's
argument binder then reads the strides from the caller's DLTensor (compact ones when it
passes NULL), and zero strides are fine: a broadcast input travels with x's shape and
stride 0 on its broadcast axes and is read in place. Outputs stay compact. (Their loads
are gathers; the runtime takes a compact fast-path kernel whenever the package has one.)
"""
from __future__ import annotations

import re

import tvm
from tvm import tirx

_OPEN = "T.Buffer("
_WRITES = re.compile(r"T\.writes\((\w+)\[")
_PARAM = re.compile(r"(\w+)\s*:\s*$")
_STRIDE = "_stride_"


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


def _align_buffers(signature: str, params: list[tuple[str, str, int]],
                   strided: set[str]) -> tuple[str, list[str]]:
    """The signature with ``align`` on every buffer and strides on those named in ``strided``.

    ``params`` lists each buffer argument as (name, dtype, rank), taken from the function
    itself, in signature order; the text is only searched for where each ``T.Buffer(...)``
    closes, and each one found must belong to the argument expected there, so a change in how
    TVMScript prints a buffer (more keywords, another dtype spelling) fails loudly instead of
    declaring a wrong alignment.
    """
    out, pos, new_vars = [], 0, []
    for name, dtype, rank in params:
        start = signature.find(_OPEN, pos)
        named = _PARAM.search(signature[:start]) if start >= 0 else None
        if named is None or named.group(1) != name:
            found = named.group(1) if named else "no T.Buffer"
            raise RuntimeError(f"unexpected TVMScript signature: argument [{name}] should come "
                               f"next, but found [{found}]; cannot re-declare its alignment")
        end = _close_paren(signature, start + len(_OPEN))
        extra = ""
        if name in strided and rank:
            strides = [f"{name}{_STRIDE}{axis}" for axis in range(rank)]
            new_vars += strides
            extra = f", strides=({', '.join(strides)},)"
        out.append(signature[pos:end] + f"{extra}, align={_itemsize(dtype)})")
        pos = end + 1
    if signature.find(_OPEN, pos) >= 0:
        raise RuntimeError("unexpected TVMScript signature: more T.Buffer arguments than the "
                           "function has buffer parameters")
    return "".join(out) + signature[pos:], new_vars


def element_aligned(func: tirx.PrimFunc, strided_inputs: bool | None = None) -> tirx.PrimFunc:
    """Return ``func`` with its argument buffers aligned to their element size only.

    Parameters
    ----------
    func : tirx.PrimFunc
        A function from ``te.create_prim_func``, before scheduling.
    strided_inputs : bool, optional
        Also declare every input buffer (one the function does not write) with symbolic
        strides; default: whether ``compile_options.strided_inputs`` is on in this context.
    """
    if strided_inputs is None:
        from bce_grad.host_backend.compile_options import strided_inputs_enabled

        strided_inputs = strided_inputs_enabled()
    text = func.script()
    head, sep, body = text.partition("):\n")
    if not sep or "def " not in head:
        raise RuntimeError("unexpected TVMScript layout: cannot re-declare argument alignment")
    written = set(_WRITES.findall(body))
    buffers = [(p.name, str(p.ty.dtype), len(p.ty.shape)) for p in func.params
               if tirx.is_buffer_var(p)]
    inputs = {name for name, _, _ in buffers} - written
    signature, new_vars = _align_buffers(head, buffers, inputs if strided_inputs else set())
    if new_vars:  # the stride vars are declared as the dim vars are, before the decorator
        decorator = signature.index("@T.prim_func")
        declared = "".join(f'{v} = TypeVar("{v}")\n' for v in new_vars)
        signature = signature[:decorator] + declared + signature[decorator:]
    aligned = tvm.script.from_source(signature + sep + body)
    for param in aligned.params:
        if tirx.is_buffer_var(param) and param.data_alignment != _itemsize(str(param.ty.dtype)):
            raise RuntimeError(f"argument {param.name} kept alignment {param.data_alignment}")
    return aligned
