"""Schedule rules for the CPU (LLVM).

Each rule's ``apply(sch, func_name, outputs)`` returns the scheduled IRModule, or
None when it does not fit (leaving the schedule untouched); the first that fits wins.

- :class:`Elementwise`: inline every producer into the output, so the op is one
  pass over memory, then lay each output's loops out with :func:`chunked_nest`.
- :class:`Reduction`: inline producers into the reduction, parallelise its
  spatial axes, and lay what follows out as elementwise stages.

:func:`chunked_nest` is written as TIR rather than with ``split``: a split leaves a
``T.where`` tail guard on every lane, TVM then emits a scalar loop, and LLVM's
auto-vectoriser rescues float32 but not float16 on CPUs without fp16 arithmetic
(AVX2, F16C only). Full chunks here carry no guard, so TVM emits the vector code
itself for whatever the target has; a chunk that ends a row runs as a scalar tail.
"""
from __future__ import annotations

import functools
import operator

import tvm
from tvm import s_tir, tirx
from tvm.tirx import ForKind

from bce_grad.host_backend.targets import target_config, vector_bits

#: Vector registers per chunk: four, so one chunk keeps several loads in flight.
REGISTERS_PER_CHUNK = 4
#: Rows from which a kernel parallelises over rows alone (static shares stay even to
#: about 1/16 on 16 threads); below it, over (row, chunk) pairs.
MANY_ROWS = 256


def vector_chunk(config: dict | None = None) -> int:
    """Elements per vectorised chunk: four of the target's widest float32 vectors.

    64 on AVX-512, 32 on AVX2, 16 on SSE2; ``config`` defaults to the LLVM target.
    """
    return REGISTERS_PER_CHUNK * vector_bits(config or target_config("llvm")) // 32


def _blocks(sch: s_tir.Schedule, func_name: str) -> list:
    return list(sch.get_child_blocks(sch.get_sblock("root", func_name=func_name)))


def _is_reduction(sch: s_tir.Schedule, block) -> bool:
    return any(iv.iter_type != 0 for iv in sch.get(block).iter_vars)


def _writes_output(sch: s_tir.Schedule, func_name: str, block) -> bool:
    root = sch.get(sch.get_sblock("root", func_name=func_name))
    scratch = {buf.name for buf in root.alloc_buffers}
    return any(region.source.name not in scratch for region in sch.get(block).writes)


def _inline_producers(sch: s_tir.Schedule, func_name: str) -> None:
    """Inline every block that does not write a kernel output and is not a reduction."""
    for block in _blocks(sch, func_name):
        if _writes_output(sch, func_name, block) or _is_reduction(sch, block):
            continue
        try:
            sch.compute_inline(block)
        except s_tir.ScheduleError:
            continue


def _realize_under(stmt) -> s_tir.SBlockRealize | None:
    """The one block realised under a chain of loops, or None for any other shape."""
    while isinstance(stmt, tirx.For):
        stmt = stmt.body
    return stmt if isinstance(stmt, s_tir.SBlockRealize) else None


def _unravel(flat: tvm.ir.Expr, extents: list) -> list:
    """Indices of ``flat`` in a row-major box of ``extents``.

    Truncating division: ``flat`` and the extents are never negative (no kernel runs on an
    empty x). Floor division of signed int64 lowers to selects that repeat its operand, so
    nested unravels grew exponentially with the rank (a rank-6 kernel took minutes to build).
    """
    indices = []
    for position, extent in enumerate(reversed(extents)):
        last = position == len(extents) - 1
        indices.append(flat if last else tirx.truncmod(flat, extent))
        flat = flat if last else tirx.truncdiv(flat, extent)
    return indices[::-1]


def _chunk_body(block, outer: list, start, row_len, width, lane, rest) -> tirx.IfThenElse:
    """One chunk of a row from ``start``: vectorised when full, a scalar loop when it ends short."""
    zero = tirx.const(0, str(width.ty))
    full = tirx.For(lane, zero, width, ForKind.VECTORIZED,
                    s_tir.SBlockRealize([*outer, start + lane], True, block))
    tail = tirx.For(rest, zero, row_len - start, ForKind.SERIAL,
                    s_tir.SBlockRealize([*outer, start + rest], True, block))
    return tirx.IfThenElse(tirx.likely(start + width <= row_len), full, tail)


def chunked_nest(realize: s_tir.SBlockRealize, chunk: int) -> tirx.IfThenElse:
    """Loops for one spatial block, in chunks of its innermost axis, chosen at run time.

    With at least :data:`MANY_ROWS` rows (the outer axes, fused), the rows run in
    parallel and each walks its chunks: no division per chunk. With fewer rows,
    one parallel loop runs over every (row, chunk) pair, so a (2, N) kernel still
    uses every thread. A full chunk is a vectorised loop with no guard; the chunk
    that ends a row, when shorter, is a scalar loop. The vectorised lane loop never
    enters the parallel fusion: its index would need a div/mod per lane, which
    scalarises the chunk (measured: a (512, 4096) float16 row-broadcast kernel ran
    8x slower).

    Parameters
    ----------
    realize : SBlockRealize
        The block, with spatial iter vars from 0 and no predicate.
    chunk : int
        Elements per vectorised chunk, from :func:`vector_chunk`.
    """
    block = realize.block
    extents = [iv.dom.extent for iv in block.iter_vars]
    dtype = str(extents[-1].ty)
    zero, width, row_len = tirx.const(0, dtype), tirx.const(chunk, dtype), extents[-1]
    per_row = tirx.floordiv(row_len + width - 1, width)
    rows = functools.reduce(operator.mul, extents[:-1], tirx.const(1, dtype))
    row, step, pair = (tirx.Var(name, dtype) for name in ("row", "chunk", "row_chunk"))
    lanes = [tirx.Var(name, dtype) for name in ("lane", "tail", "lane", "tail")]

    def unravel(flat):
        return _unravel(flat, extents[:-1]) if extents[:-1] else []

    by_rows = tirx.For(row, zero, rows, ForKind.PARALLEL, tirx.For(
        step, zero, per_row, ForKind.SERIAL,
        _chunk_body(block, unravel(row), step * width, row_len, width, *lanes[:2])))
    by_pairs = tirx.For(pair, zero, rows * per_row, ForKind.PARALLEL, _chunk_body(
        block, unravel(tirx.truncdiv(pair, per_row)), tirx.truncmod(pair, per_row) * width,
        row_len, width, *lanes[2:]))
    return tirx.IfThenElse(rows >= tirx.const(MANY_ROWS, dtype), by_rows, by_pairs)


def _fits_chunked_nest(realize: s_tir.SBlockRealize | None) -> bool:
    if realize is None or not realize.block.iter_vars:
        return False
    if not (isinstance(realize.predicate, tirx.IntImm) and realize.predicate.value == 1):
        return False
    return all(iv.iter_type == 0 and isinstance(iv.dom.min, tirx.IntImm) and iv.dom.min.value == 0
               for iv in realize.block.iter_vars)


def lay_out_spatial(sch: s_tir.Schedule, func_name: str, chunk: int) -> tvm.IRModule:
    """Return ``sch``'s module with every spatial block under the root in a :func:`chunked_nest`.

    Loop nests that hold a reduction, or anything but one block, stay as they are.
    """
    func = sch.mod[func_name]
    root = func.body.block
    stmts = list(root.body.seq) if isinstance(root.body, tirx.SeqStmt) else [root.body]
    laid = [chunked_nest(_realize_under(s), chunk) if _fits_chunked_nest(_realize_under(s)) else s
            for s in stmts]
    new_root = s_tir.SBlock(root.iter_vars, root.reads, root.writes, root.name_hint,
                            laid[0] if len(laid) == 1 else tirx.SeqStmt(laid), root.init,
                            root.alloc_buffers, root.match_buffers, root.annotations)
    mod = sch.mod
    mod[func_name] = func.with_body(s_tir.SBlockRealize([], True, new_root))
    return mod


class Elementwise:
    """One fused, parallel, vectorised pass for graphs with no reduction."""

    def apply(self, sch: s_tir.Schedule, func_name: str, outputs: list) -> tvm.IRModule | None:
        blocks = _blocks(sch, func_name)
        if any(_is_reduction(sch, b) for b in blocks):
            return None
        del outputs
        _inline_producers(sch, func_name)
        return lay_out_spatial(sch, func_name, vector_chunk())


class Reduction:
    """Reductions: parallel over spatial axes, serial over reduced ones."""

    def apply(self, sch: s_tir.Schedule, func_name: str, outputs: list) -> tvm.IRModule | None:
        blocks = _blocks(sch, func_name)
        if not any(_is_reduction(sch, b) for b in blocks):
            return None
        del outputs
        _inline_producers(sch, func_name)
        for block in _blocks(sch, func_name):
            if _is_reduction(sch, block):
                spatial = [lp for lp, iv in zip(sch.get_loops(block), sch.get(block).iter_vars)
                           if iv.iter_type == 0]
                if spatial:
                    sch.parallel(sch.fuse(*spatial) if len(spatial) > 1 else spatial[0])
        return lay_out_spatial(sch, func_name, vector_chunk())


RULES = (Elementwise(), Reduction())
