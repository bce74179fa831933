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
itself for whatever the target has; a chunk that ends a row runs as a scalar tail. A full
bfloat16 chunk runs in the pair layout of :mod:`.pairs` where it fits (32-bit words, even and
odd elements apart: no widening or narrowing shuffles).

:func:`guard_fp_mode` makes results independent of the caller's floating-point mode:
on x86 every parallel task (and a serial kernel's body) saves MXCSR, runs in the IEEE
default (round to nearest even, no flush-to-zero, no denormals-are-zero, the caller's
exception masks) and restores it, so FTZ/DAZ set by the caller (``torch.set_flush_denormal``)
never flushes a denormal, on the calling thread or on TVM's workers.
"""
from __future__ import annotations

import functools
import operator

import tvm
from tvm import s_tir, tirx
from tvm.tirx import ForKind

from bce_grad.host_backend.schedule import pairs, short_rows
from bce_grad.host_backend.schedule.fold import constant
from bce_grad.host_backend.targets import target_config, vector_bits

#: Vector registers per chunk: four, so one chunk keeps several loads in flight.
REGISTERS_PER_CHUNK = 4
#: Rows from which a kernel parallelises over rows alone (static shares stay even to
#: about 1/16 on 16 threads); below it, over pieces of rows.
MANY_ROWS = 256
#: Chunks per piece of a row when a kernel has fewer than :data:`MANY_ROWS` rows: one
#: division finds a piece's row, then its chunks walk on (2048 float32 elements on AVX2).
CHUNKS_PER_PIECE = 64


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


def _realize(block, values: list) -> s_tir.SBlockRealize:
    """Realise ``block`` at ``values``, each cast to its iter var's dtype where they differ (the
    loops run in the widest index type of the block's extents)."""
    bound = [value if str(value.ty) == str(iv.var.ty) else tirx.Cast(str(iv.var.ty), value)
             for value, iv in zip(values, block.iter_vars)]
    return s_tir.SBlockRealize(bound, True, block)


def _widest_index_type(extents: list) -> str:
    """``int64`` when any extent is 64-bit, else the extents' common type."""
    types = {str(e.ty) for e in extents}
    return "int64" if "int64" in types else str(extents[-1].ty)


def _chunk_body(block, outer: list, start, row_len, width, lane, rest) -> tirx.IfThenElse:
    """One chunk of a row from ``start``: vectorised when full, a scalar loop when it ends short.

    A full chunk of a bfloat16 block runs in the pair layout (:mod:`.pairs`) where it fits,
    behind a check that rows start at even elements when that is not known statically.
    """
    zero = tirx.const(0, str(width.ty))
    full = tirx.For(lane, zero, width, ForKind.VECTORIZED, _realize(block, [*outer, start + lane]))
    ahead = pairs.half_prefetches(block, outer, start, constant(width))
    if ahead:
        full = tirx.SeqStmt([*ahead, full])
    paired = pairs.pair_chunk(block, outer, start, constant(width), tirx.Var("pair", str(width.ty)))
    if paired is not None:
        pair_stmt, even_rows = paired
        full = pair_stmt if even_rows is None else tirx.IfThenElse(even_rows, pair_stmt, full)
    tail = tirx.For(rest, zero, row_len - start, ForKind.SERIAL,
                    _realize(block, [*outer, start + rest]))
    return tirx.IfThenElse(tirx.likely(start + width <= row_len), full, tail)


def chunked_nest(realize: s_tir.SBlockRealize, chunk: int) -> tirx.IfThenElse:
    """Loops for one spatial block, in chunks of its innermost axis, chosen at run time.

    With at least :data:`MANY_ROWS` rows (the outer axes, fused), the rows run in
    parallel and each walks its chunks: no division per chunk. With fewer rows, one
    parallel loop runs over pieces of rows (:data:`CHUNKS_PER_PIECE` chunks of one row
    each), so a (2, N) kernel still uses every thread; one division per piece finds its
    row (none when there is one row), and its chunks walk on without one (a division per
    chunk cost a float16 (2, N) column-broadcast loop a third of its cycles and spilled
    registers). A full chunk is a vectorised loop with no guard; the chunk that ends a
    row, when shorter, is a scalar loop. The vectorised lane loop never enters the
    parallel fusion: its index would need a div/mod per lane, which scalarises the chunk
    (measured: a (512, 4096) float16 row-broadcast kernel ran 8x slower).

    Parameters
    ----------
    realize : SBlockRealize
        The block, with spatial iter vars from 0 and no predicate.
    chunk : int
        Elements per vectorised chunk, from :func:`vector_chunk`.
    """
    block = realize.block
    dtype = _widest_index_type([iv.dom.extent for iv in block.iter_vars])
    extents = [iv.dom.extent if str(iv.dom.extent.ty) == dtype else tirx.Cast(dtype, iv.dom.extent)
               for iv in block.iter_vars]
    zero, width, row_len = tirx.const(0, dtype), tirx.const(chunk, dtype), extents[-1]
    piece = tirx.const(CHUNKS_PER_PIECE, dtype)
    per_row = tirx.floordiv(row_len + width - 1, width)
    pieces_per_row = tirx.floordiv(per_row + piece - 1, piece)
    rows = functools.reduce(operator.mul, extents[:-1], tirx.const(1, dtype))
    row, step, part, inner = (tirx.Var(name, dtype) for name in ("row", "chunk", "piece", "chunk"))
    lanes = [tirx.Var(name, dtype) for name in ("lane", "tail", "lane", "tail")]

    def unravel(flat):
        return _unravel(flat, extents[:-1]) if extents[:-1] else []

    by_rows = tirx.For(row, zero, rows, ForKind.PARALLEL, tirx.For(
        step, zero, per_row, ForKind.SERIAL,
        _chunk_body(block, unravel(row), step * width, row_len, width, *lanes[:2])))
    if constant(rows) == 1:  # one row (a rank-1 kernel): the piece is the row's, no division
        first_chunk, outer = part * piece, unravel(zero)
    else:
        first_chunk = tirx.truncmod(part, pieces_per_row) * piece
        outer = unravel(tirx.truncdiv(part, pieces_per_row))
    chunks = tirx.Min(piece, per_row - first_chunk)
    by_pieces = tirx.For(part, zero, rows * pieces_per_row, ForKind.PARALLEL, tirx.For(
        inner, zero, chunks, ForKind.SERIAL,
        _chunk_body(block, outer, (first_chunk + inner) * width, row_len, width, *lanes[2:])))
    nest = tirx.IfThenElse(rows >= tirx.const(MANY_ROWS, dtype), by_rows, by_pieces)
    flat = short_rows.flat_tiles(block, extents, chunk, _chunk_body) if len(extents) == 2 else None
    return nest if flat is None else tirx.IfThenElse(short_rows.is_short(row_len, chunk), flat, nest)


#: MXCSR bits kept from the caller: the six exception masks (bits 7-12). Rounding
#: (13-14, 00 = nearest even), FTZ (15), DAZ (6) and the sticky flags (0-5) are cleared.
MXCSR_EXCEPTION_MASKS = 0x1F80


def _has_parallel(stmt) -> bool:
    """Whether a parallel loop survives in ``stmt`` once TVM simplifies it.

    A parallel loop of constant extent 1, or one in a branch whose condition is a
    constant false, is dropped by the lowering; a launch point around no parallel
    loop does not compile.
    """
    if isinstance(stmt, tirx.For):
        extent = constant(stmt.extent)
        if stmt.kind == ForKind.PARALLEL and not (extent is not None and extent <= 1):
            return True
        return _has_parallel(stmt.body)
    if isinstance(stmt, tirx.IfThenElse):
        cond = constant(stmt.condition)
        taken = [stmt.then_case, stmt.else_case]
        if cond is not None:
            taken = [stmt.then_case if cond else stmt.else_case]
        return any(s is not None and _has_parallel(s) for s in taken)
    if isinstance(stmt, tirx.SeqStmt):
        return any(_has_parallel(s) for s in stmt.seq)
    if isinstance(stmt, s_tir.SBlockRealize):
        return _has_parallel(stmt.block.body)
    body = getattr(stmt, "body", None)
    return isinstance(body, tirx.Stmt) and _has_parallel(body)


def _mxcsr_call(name: str, slot: tirx.Buffer, index: int) -> tirx.Evaluate:
    address = tirx.address_of(tirx.BufferLoad(slot, [tirx.const(index, "int32")]))
    return tirx.Evaluate(tirx.call_llvm_intrin("void", f"llvm.x86.sse.{name}", address))


def fp_mode_guarded(stmt) -> tirx.Stmt:
    """``stmt`` run in the IEEE default floating-point mode on every thread, MXCSR restored after.

    The caller's MXCSR is stored in a stack slot of the function that runs ``stmt``
    (``tvm_stack_alloca``: one per parallel task, never shared), loaded back with only
    its exception masks (:data:`MXCSR_EXCEPTION_MASKS`), and restored at the end.
    A ``stmt`` holding a parallel loop becomes a ``pragma_parallel_launch_point``: each
    task runs the guard around its share of that loop (TVM splits a parallel loop
    inside a launch point among the tasks without a second launch).
    """
    slot = tirx.decl_buffer((4,), "uint32", name="fp_mode_slot")
    alloca = tirx.call_intrin("handle", "tirx.tvm_stack_alloca", "shape", 2)
    saved = tirx.BufferLoad(slot, [tirx.const(0, "int32")])
    body = tirx.SeqStmt([
        tirx.DeclBuffer(slot, data=alloca),
        _mxcsr_call("stmxcsr", slot, 0),
        tirx.BufferStore(slot, saved & tirx.const(MXCSR_EXCEPTION_MASKS, "uint32"),
                         [tirx.const(1, "int32")]),
        _mxcsr_call("ldmxcsr", slot, 1),
        stmt,
        _mxcsr_call("ldmxcsr", slot, 0),
    ])
    if not _has_parallel(stmt):
        return body
    return tirx.AttrStmt(tirx.const(0, "int32"), "pragma_parallel_launch_point",
                         tirx.const(1, "int32"), body)


def guards_fp_mode(config: dict | None = None) -> bool:
    """Whether kernels for ``config`` (default: the LLVM target) set their FP mode: x86 only."""
    triple = str((config or target_config("llvm")).get("mtriple", ""))
    return triple.startswith(("x86_64", "i386", "i686"))


def _fits_chunked_nest(realize: s_tir.SBlockRealize | None) -> bool:
    if realize is None or not realize.block.iter_vars:
        return False
    if not (isinstance(realize.predicate, tirx.IntImm) and realize.predicate.value == 1):
        return False
    return all(iv.iter_type == 0 and isinstance(iv.dom.min, tirx.IntImm) and iv.dom.min.value == 0
               for iv in realize.block.iter_vars)


def lay_out_spatial(sch: s_tir.Schedule, func_name: str, chunk: int) -> tvm.IRModule:
    """Return ``sch``'s module with every spatial block under the root in a :func:`chunked_nest`.

    Loop nests that hold a reduction, or anything but one block, stay as they are. On x86
    each statement then runs under :func:`fp_mode_guarded`.
    """
    func = sch.mod[func_name]
    root = func.body.block
    stmts = list(root.body.seq) if isinstance(root.body, tirx.SeqStmt) else [root.body]
    laid = [chunked_nest(_realize_under(s), chunk) if _fits_chunked_nest(_realize_under(s)) else s
            for s in stmts]
    if guards_fp_mode():  # one guard per statement: consecutive parallel loops stay joined
        laid = [fp_mode_guarded(s) for s in laid]
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
