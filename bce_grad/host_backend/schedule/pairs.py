"""The pair layout: a bfloat16 chunk read and written as 32-bit words, two values per word.

A bfloat16 value is the high half of a float32. A little-endian 32-bit word holding
the bfloat16 pair (even, odd) therefore gives both as float32 bit patterns with one
integer op each: ``word << 16`` is the even value, ``word & 0xffff0000`` the odd one.
On the way out, each result's rounded bfloat16 bits (in the low half of a 32-bit
word, as ``dsl.ops._to_bfloat16`` leaves them) combine back into one word as
``odd << 16 | even``. LLVM turns that into ``and`` and ``shift``, so a vectorised chunk
needs no zero-extend on load and no pack or lane permute on store (on AVX2 the
x86 backend widens and narrows bfloat16 with shuffles, and they all compete for
the two shuffle ports).

An elementwise body does not care in which order its elements are computed, so
the chunk computes every even element as one vector and every odd element as
another; each input that varies along the innermost axis is split the same way,
and an input that does not (a broadcast scalar or a column) is the same value for
both halves. Each value still goes through the same float32 ops and the same one
rounding, so results are bit for bit those of the plain chunk.

Each chunk also prefetches its inputs :data:`PREFETCH_BYTES` ahead: with the shuffles gone
the loop is short enough for memory to matter, and on one thread the hardware prefetchers
alone left about a tenth of the bandwidth unused. :func:`half_prefetches` gives float16's plain
chunks the same prefetches (measured on a Zen 3, (4096, 4096), paired with the roofline: 86-96 %
-> 97-103 % on one thread, 91-96 % -> 95-99 % on two).

:func:`pair_chunk` returns None, and the caller keeps the plain chunk, for every
block it does not recognise: an output that is not bfloat16, an input read in any
other way than ``cast_to(float32)`` of a bfloat16 load indexed by the innermost
axis, or a strided or offset buffer.
"""
from __future__ import annotations

import functools
import operator
from dataclasses import dataclass, field

import tvm
from tvm import tirx
from tvm.tirx import ForKind

BF16 = "bfloat16"
#: The odd (high) element of a word, already a float32 bit pattern.
HIGH_HALF = 0xFFFF0000
CACHE_LINE = 64
#: How far ahead each input is prefetched. A bfloat16 chunk computes long enough per byte
#: that the hardware prefetchers alone fall behind; 1.5 KiB ahead measured best on a Zen 3
#: (one thread, (4096, 4096), paired with the roofline: 1 KiB and 2 KiB close behind, 4 KiB
#: slower than none).
PREFETCH_BYTES = 1536


def _u32(value: int) -> tvm.ir.Expr:
    return tirx.const(value, "uint32")


def _dtype(expr) -> str:
    return str(expr.ty) if isinstance(expr, tvm.ir.Expr) else str(expr.dtype)


def _prefetch(address) -> tirx.Evaluate:
    """``llvm.prefetch`` of ``address``: a read, kept in all cache levels, of data."""
    return tirx.Evaluate(tirx.call_llvm_intrin("void", "llvm.prefetch.p0", address,
                                               tirx.const(0, "int32"), tirx.const(3, "int32"),
                                               tirx.const(1, "int32")))


def _int64(expr) -> tvm.ir.Expr:
    return expr if _dtype(expr) == "int64" else tirx.Cast("int64", expr)


def _is_compact(buffer: tirx.Buffer) -> bool:
    """Whether ``buffer`` is row-major from its data pointer (no strides, no element offset)."""
    offset = buffer.elem_offset
    return not buffer.strides and isinstance(offset, tirx.IntImm) and offset.value == 0


def _uses(expr, var: tirx.Var) -> bool:
    return any(v.same_as(var) for v in tirx.analysis.undefined_vars(expr))


#: Expression nodes with two operands ``a`` and ``b``, rebuilt by their constructor.
_BINARY = (tirx.Add, tirx.Sub, tirx.Mul, tirx.Div, tirx.Mod, tirx.FloorDiv, tirx.FloorMod,
           tirx.Min, tirx.Max, tirx.EQ, tirx.NE, tirx.LT, tirx.LE, tirx.GT, tirx.GE, tirx.And,
           tirx.Or, tirx.BitwiseAnd, tirx.BitwiseOr, tirx.BitwiseXor, tirx.LShift, tirx.RShift)
_LEAVES = (tirx.Var, tirx.IntImm, tirx.FloatImm)
#: The node ``tirx.BufferLoad`` builds (a function in TVM 0.27); its buffer is ``source``.
_LOAD = tvm.ir.TensorLoad


def rewrite_expr(expr, replace):
    """``expr`` rebuilt bottom-up with ``replace(node)`` wherever it is not None.

    Shared subexpressions stay shared (one rebuild per node; the bfloat16 rounding uses
    its operand four times, so a tree walk would grow with the depth). Raises
    ``TypeError`` on a node kind it does not know, so a caller can keep the plain code.
    TVM 0.27 exposes no expression mutator to Python, hence this one.
    """
    memo: dict = {}

    def visit(node):
        key = node.__chandle__()
        if key not in memo:
            found = replace(node)
            memo[key] = found if found is not None else rebuild(node)
        return memo[key]

    def rebuild(node):
        if isinstance(node, _LEAVES):
            return node
        if isinstance(node, _BINARY):
            return type(node)(visit(node.a), visit(node.b))
        if isinstance(node, tirx.Cast):
            return tirx.Cast(_dtype(node), visit(node.value))
        if isinstance(node, tirx.Not):
            return tirx.Not(visit(node.a))
        if isinstance(node, tirx.Select):
            return tirx.Select(visit(node.condition), visit(node.true_value),
                               visit(node.false_value))
        if isinstance(node, _LOAD):
            return tirx.BufferLoad(node.source, [visit(i) for i in node.indices])
        if isinstance(node, tvm.ir.Call):
            return tvm.ir.Call(node.op, [visit(a) for a in node.args], ret_ty=node.ty)
        raise TypeError(f"pair layout: no rule for {type(node).__name__}")

    return visit(expr)


@dataclass
class _Words:
    """32-bit word views of the bfloat16 buffers one pair chunk touches, and where it starts."""

    start: tvm.ir.Expr
    lane: tvm.ir.Expr
    views: dict = field(default_factory=dict)
    firsts: dict = field(default_factory=dict)

    def view(self, buffer: tirx.Buffer) -> tirx.Buffer:
        """A uint32 view of ``buffer``'s memory, aligned as loosely as a bfloat16 element (a numpy
        array may start 2 bytes past a 4-byte boundary; x86 vector loads do not mind)."""
        key = buffer.__chandle__()
        if key not in self.views:
            size = functools.reduce(operator.mul, [_int64(d) for d in buffer.shape],
                                    tirx.const(1, "int64"))
            view = tirx.decl_buffer((tirx.truncdiv(size, 2),), "uint32",
                                    name=f"{buffer.name}_pairs", data=buffer.data,
                                    data_alignment=2)
            self.views[key] = (view, buffer.data)
        return self.views[key][0]

    def word(self, buffer: tirx.Buffer, outer: list) -> tvm.ir.Expr:
        """Index of the word holding this lane's pair: the chunk start's element offset in
        ``buffer`` (even), halved, plus the lane."""
        first = buffer.offset_of([*outer, self.start])[0]
        index = tirx.truncdiv(first, tirx.const(2, _dtype(first)))
        self.firsts[buffer.__chandle__()] = index
        lane = self.lane if _dtype(self.lane) == _dtype(index) else tirx.Cast(_dtype(index),
                                                                              self.lane)
        return index + lane

    def prefetches(self, skip: tirx.Buffer, width: int) -> list:
        """Prefetches of every input's words :data:`PREFETCH_BYTES` past this chunk, one per
        cache line of the chunk (``skip`` is the output: prefetching it measured no gain)."""
        stmts = []
        for key, (view, _) in self.views.items():
            if key == skip.__chandle__() or view.scope() == "local":
                continue
            first = self.firsts[key]
            for line in range(max(1, width * 2 // CACHE_LINE)):
                ahead = tirx.const((PREFETCH_BYTES + line * CACHE_LINE) // 4, _dtype(first))
                stmts.append(_prefetch(tirx.address_of(tirx.BufferLoad(view, [first + ahead]))))
        return stmts


def _split_value(value, inner: tirx.Var, words: _Words, odd: bool, split: list):
    """``value`` with each float32 cast of a bfloat16 load along ``inner`` made the even or odd
    element of its word; None when ``inner`` is used any other way."""

    def rewrite(node):
        if not (isinstance(node, tirx.Cast) and _dtype(node) == "float32"
                and isinstance(node.value, _LOAD)):
            return None
        load = node.value
        if str(load.source.dtype) != BF16 or not load.indices:
            return None
        *outer, last = load.indices
        if not last.same_as(inner) or any(_uses(i, inner) for i in outer):
            return None
        if not _is_compact(load.source):
            return None
        split.append((load.source, outer))
        word = tirx.BufferLoad(words.view(load.source), [words.word(load.source, outer)])
        bits = word & _u32(HIGH_HALF) if odd else word << _u32(16)
        return tirx.reinterpret("float32", bits)

    out = rewrite_expr(value, rewrite)
    return None if _uses(out, inner) else out


def _low_bits(value) -> tvm.ir.Expr:
    """The bfloat16 ``value``'s bits in the low half of a uint32 (the high half zero)."""
    name = getattr(getattr(value, "op", None), "name", "")
    if name == "tirx.reinterpret" and _dtype(value.args[0]) == "uint16":
        return tirx.Cast("uint32", value.args[0])
    return tirx.Cast("uint32", tirx.reinterpret("uint16", value))


def pair_chunk(block, outer: list, start, width: int, lane: tirx.Var):
    """The chunk of ``width`` values of ``block`` from ``start``, in the pair layout.

    Parameters
    ----------
    block : SBlock
        A spatial block whose body stores one bfloat16 output element at its iter vars.
    outer : list of Expr
        Values of the outer iter vars (the row).
    start : Expr
        The chunk's first index along the innermost axis; even.
    width : int
        Values per chunk, four float32 registers' worth (:func:`.cpu.vector_chunk`).
    lane : tirx.Var
        The vectorised loop var (one word per lane).

    Returns
    -------
    tuple of (Stmt, Expr or None) or None
        The chunk's statement and the condition under which every word is whole (each
        buffer's rows start at an even element), None when that always holds; or None
        when the block does not fit the pair layout.
    """
    store = block.body
    if not isinstance(store, tirx.BufferStore) or str(store.buffer.dtype) != BF16:
        return None
    iter_vars = [iv.var for iv in block.iter_vars]
    if len(store.indices) != len(iter_vars) or not all(
            i.same_as(v) for i, v in zip(store.indices, iter_vars)):
        return None
    if not _is_compact(store.buffer):
        return None
    *outer_vars, inner = iter_vars
    outer = [x if _dtype(x) == _dtype(v) else tirx.Cast(_dtype(v), x)
             for v, x in zip(outer_vars, outer)]
    # The words run in two halves of one vector register each: a half holds an even and
    # an odd float32 register per value, four per chunk as the plain chunk has. One loop
    # over all the words kept eight live and spilled them to the stack on AVX2.
    dtype = _dtype(lane)
    zero, part = tirx.const(0, dtype), tirx.Var("half", dtype)
    words, split = _Words(start, part * tirx.const(width // 4, dtype) + lane), []
    try:
        value = rewrite_expr(store.value, lambda node: next(
            (x for v, x in zip(outer_vars, outer) if node.same_as(v)), None))
        halves = [_split_value(value, inner, words, odd, split) for odd in (False, True)]
    except TypeError:
        return None
    if any(h is None for h in halves):
        return None
    even, odd = (_low_bits(h) for h in halves)
    body = tirx.BufferStore(words.view(store.buffer), (odd << _u32(16)) | even,
                            [words.word(store.buffer, outer)])
    loop = tirx.For(part, zero, tirx.const(2, dtype), ForKind.SERIAL,
                    tirx.For(lane, zero, tirx.const(width // 4, dtype), ForKind.VECTORIZED, body))
    decls = [tirx.DeclBuffer(view, data=data) for view, data in words.views.values()]
    stmt = tirx.SeqStmt([*decls, *words.prefetches(store.buffer, width), loop])
    return stmt, _rows_start_even([*split, (store.buffer, outer)])


def _rows_start_even(accesses: list):
    """The condition that each (buffer, outer indices) access starts its row at an even element.

    The chunk start is even, so only the row's offset matters: zero when every outer
    index is the constant 0 (a rank-1 buffer, a broadcast row), else a multiple of the
    buffer's row length, which must then be even. None when nothing needs checking.
    """
    lengths = {}
    for buffer, outer in accesses:
        if all(isinstance(i, tirx.IntImm) and i.value == 0 for i in outer):
            continue
        last = buffer.shape[-1]
        lengths.setdefault(str(last), last)
    checks = [tirx.truncmod(n, tirx.const(2, _dtype(n))) == tirx.const(0, _dtype(n))
              for n in lengths.values()]
    return functools.reduce(tirx.And, checks) if checks else None



#: 16-bit dtypes whose plain chunks prefetch like the pair chunk (float16 computes about as
#: long per byte as bfloat16 once both are read without shuffles).
HALF_DTYPES = ("float16",)


def half_prefetches(block, outer: list, start, width: int) -> list:
    """Prefetches :data:`PREFETCH_BYTES` ahead of every compact float16 input that a plain chunk
    of ``block`` reads along its innermost axis (one per cache line of the chunk); empty for
    any other block (float32, whose chunks keep up with memory without them, or an output
    that is not float16)."""
    store = block.body
    if not isinstance(store, tirx.BufferStore) or str(store.buffer.dtype) not in HALF_DTYPES:
        return []
    iter_vars = [iv.var for iv in block.iter_vars]
    *outer_vars, inner = iter_vars
    found: dict = {}

    def collect(node):
        if isinstance(node, _LOAD) and node.indices and str(node.source.dtype) in HALF_DTYPES \
                and node.indices[-1].same_as(inner) and _is_compact(node.source) \
                and node.source.scope() != "local" \
                and not any(_uses(i, inner) for i in node.indices[:-1]):
            found.setdefault(node.source.__chandle__(), (node.source, list(node.indices[:-1])))
        return None

    try:
        rewrite_expr(store.value, collect)
    except TypeError:
        return []
    values = {v.__chandle__(): (x if _dtype(x) == _dtype(v) else tirx.Cast(_dtype(v), x))
              for v, x in zip(outer_vars, outer)}
    stmts = []
    for source, indices in found.values():
        try:
            indices = [rewrite_expr(i, lambda n: values.get(n.__chandle__()) if isinstance(n, tirx.Var)
                                    else None) for i in indices]
        except TypeError:
            return []
        first = source.offset_of([*indices, start])[0]
        for line in range(max(1, width * 2 // CACHE_LINE)):
            ahead = tirx.const((PREFETCH_BYTES + line * CACHE_LINE) // 2, _dtype(first))
            stmts.append(_prefetch(source.access_ptr("r", offset=first + ahead, extent=1)))
    return stmts
