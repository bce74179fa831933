"""Short rows: a 2-D elementwise block whose rows are shorter than a few chunks, run flat.

A row of x (N, 3) is shorter than one vectorised chunk, so the row-by-row nest of
:func:`.cpu.chunked_nest` ran every element in its scalar tail (x (1398101, 3) with
grad_output (N, 1): 21-56 % of the memory roofline). Here the rows are cut into tiles of
about :data:`TILE` elements of whole rows, and each tile runs as one flat row:

- an input indexed exactly as the output (same shape, same indices) is read in place, as
  the output is written, through a 1-D view from the tile's first element;
- an input read any other way (grad_output (N, 1), a column or a row broadcast) is first
  copied, as raw bits, into a tile-sized buffer on the task's stack (in L1), so that it too
  reads along the flat index: a value per row by one vector store per row, a copy that is
  the same in every tile (a column broadcast) once before the tiles;
- a load that depends on neither axis (a broadcast scalar) stays as it is.

The flat block then goes through the same chunks as any row (:func:`.cpu._chunk_body`):
vectorised full chunks, the bfloat16 pair layout, float16 prefetches, a scalar tail. Each
value still goes through the same float32 ops, so results are bit for bit those of the
row-by-row nest. :func:`flat_tiles` returns None, and the caller keeps the rows, for any
block it does not recognise (another rank, a strided output, an iter var used outside an
index, a load whose indices it cannot place).
"""
from __future__ import annotations

import functools
import operator
from dataclasses import dataclass

import tvm
from tvm import s_tir, tirx
from tvm.tirx import ForKind

from bce_grad.host_backend.schedule.fold import constant
from bce_grad.host_backend.schedule.pairs import (
    _LOAD, _dtype, _int64, _is_compact, _uses, rewrite_expr,
)

#: Elements per tile (whole rows, even): each copied input takes TILE elements of stack, and
#: the tile's bytes of every input stay in L1 between the copy and the flat pass.
TILE = 2048
#: Widths (elements) a per-row value is spread over when filling a tile buffer, narrowest
#: first: a row takes the narrowest that covers it (8 float32 is one AVX2 store, 8 16-bit
#: values one SSE store that seldom crosses a cache line).
SPREADS = (8, 16)
SPREAD = SPREADS[-1]
#: Rows shorter than this many chunks run flat (a row of one chunk and a tail, or less, spent
#: most of its time in the scalar tail).
SHORT_ROW_CHUNKS = 2


def _same(a, b) -> bool:
    return a.same_as(b) or str(a) == str(b)


def _reads_as_output(load, store, iter_vars) -> bool:
    """Whether ``load`` reads its buffer at the output's indices, with the output's shape."""
    buffer = load.source
    return (len(load.indices) == len(iter_vars) and _is_compact(buffer)
            and all(i.same_as(v) for i, v in zip(load.indices, iter_vars))
            and len(buffer.shape) == len(store.buffer.shape)
            and all(_same(a, b) for a, b in zip(buffer.shape, store.buffer.shape)))


def flat_tiles(block, extents: list, width: int, chunk_body) -> tirx.Stmt | None:
    """The parallel loop over tiles of whole rows for the 2-D spatial ``block``, or None.

    Parameters
    ----------
    block : SBlock
        A spatial block whose body stores one output element at its two iter vars.
    extents : list of Expr
        The block's extents (rows, row length), in the loops' index type.
    width : int
        Elements per vectorised chunk.
    chunk_body : callable
        ``chunk_body(block, outer, start, row_len, width, lane, rest)`` of :mod:`.cpu`.
    """
    store = block.body
    if len(block.iter_vars) != 2 or not isinstance(store, tirx.BufferStore):
        return None
    iter_vars = [iv.var for iv in block.iter_vars]
    row_var, inner = iter_vars
    if len(store.indices) != 2 or not all(i.same_as(v) for i, v in zip(store.indices, iter_vars)):
        return None
    if not _is_compact(store.buffer):
        return None
    dtype = str(extents[-1].ty)
    rows, row_len = extents

    def const(value):
        return tirx.const(value, dtype)

    # rows per tile: whole rows, and a whole number of chunks (a scalar tail per tile cost the
    # float16 (N, 3) kernel a third of its time): a multiple of width / gcd(row_len, width), the
    # width being a power of two. That many rows are even whenever row_len is odd, so every
    # tile starts on an even element (the bfloat16 pair layout reads two per word).
    static_len = constant(row_len)
    if static_len is not None:  # folded here: TVM does not fold the bitwise and, and its
        # common-subexpression pass then bound it after a use in the parallel loop
        length = max(static_len, 1)
        rows_step = const(width // min(length & -length, width))
    else:
        lowest_bit = row_len & (const(0) - row_len)
        rows_step = const(width) // tirx.Min(tirx.Max(lowest_bit, const(1)), const(width))
    per_tile = tirx.Max(tirx.truncdiv(const(TILE), tirx.Max(row_len, const(1))) // rows_step
                        * rows_step, rows_step)
    tile_len = per_tile * row_len
    tiles = tirx.truncdiv(rows + per_tile - const(1), per_tile)
    tile, flat = tirx.Var("tile", dtype), tirx.Var("flat", dtype)
    row_in_tile, at = tirx.Var("tile_row", dtype), tirx.Var("at", dtype)
    first_row = tile * per_tile
    views, copies, copied = {}, [], {}

    def cast_index(expr, var):
        return expr if _dtype(expr) == _dtype(var) else tirx.Cast(_dtype(var), expr)

    def view_of(buffer):
        """A 1-D view of ``buffer`` from this tile's first element (its pointer is the tile's)."""
        key = buffer.__chandle__()
        if key not in views:
            view = tirx.decl_buffer((tile_len,), str(buffer.dtype), name=f"{buffer.name}_tile")
            # the address of the tile's first element (an access_ptr would carry bfloat16,
            # which TVM's bfloat16 legalisation turns into float32 against uint16 storage)
            start = [cast_index(first_row, iter_vars[0]), tirx.const(0, _dtype(iter_vars[1]))]
            views[key] = (view, tirx.address_of(tirx.BufferLoad(buffer, start)))
        return views[key][0]


    def replace(node):
        if isinstance(node, tirx.Var) and any(node.same_as(v) for v in iter_vars):
            raise TypeError("short rows: an iter var outside a load index")
        if not isinstance(node, _LOAD):
            return None
        uses = [any(_uses(i, v) for i in node.indices) for v in iter_vars]
        if not any(uses):
            return node
        if _reads_as_output(node, store, iter_vars):
            return tirx.BufferLoad(view_of(node.source), [flat])
        # one copy per distinct load (the same load may appear as several nodes)
        key = (node.source.__chandle__(), tuple(str(i) for i in node.indices))
        if key in copied:
            return copied[key]
        # copied as raw bits: a bfloat16 copy would otherwise round-trip through float32
        source = node.source
        bits = f"uint{tvm.DataType(str(source.dtype)).bits}"
        size = functools.reduce(operator.mul, [_int64(d) for d in source.shape],
                                tirx.const(1, "int64"))
        # 1-D, as TVM flattens a view declared inside the kernel body only when it has one dim
        raw = tirx.decl_buffer((size,), bits, name=f"{source.name}_bits", data=source.data)
        elements = tile_elements(width)
        copy = tirx.decl_buffer((elements + SPREAD,), bits, name=f"{source.name}_tile",
                                scope="local")
        typed = tirx.decl_buffer((elements,), str(source.dtype),
                                 name=f"{source.name}_tile_values", data=copy.data, scope="local")
        at_row = {row_var.__chandle__(): cast_index(first_row + row_in_tile, row_var),
                  inner.__chandle__(): cast_index(at, inner)}
        indices = [rewrite_expr(i, lambda n: at_row.get(n.__chandle__())
                                if isinstance(n, tirx.Var) else None) for i in node.indices]
        copies.append(_Copy(copy, raw, source.data, typed,
                            tirx.BufferLoad(raw, source.offset_of(indices)),
                            per_row=not any(_uses(i, inner) for i in node.indices),
                            same_every_tile=not any(_uses(i, row_var) for i in node.indices)))
        copied[key] = tirx.BufferLoad(typed, [flat])
        return copied[key]

    try:
        value = rewrite_expr(store.value, replace)
    except TypeError:
        return None
    if not copies and not views:
        return None
    out_view = view_of(store.buffer)
    flat_block = s_tir.SBlock(
        [tirx.IterVar(tvm.ir.Range(const(0), tile_len), flat, 0)],
        [], [], f"{block.name_hint}_flat", tirx.BufferStore(out_view, value, [flat]))
    rows_here = tirx.Min(per_tile, rows - first_row)
    length = rows_here * row_len

    def declare(group):
        stmts = []
        for c in group:
            stmts += [tirx.AllocBuffer(c.buffer), tirx.DeclBuffer(c.raw, data=c.data),
                      tirx.DeclBuffer(c.typed, data=c.buffer.data)]
        return stmts

    # a copy that is the same in every tile (a column broadcast, weight (L,)) is filled once,
    # before the tiles, for a whole tile of rows (the last tile reads a prefix of it); the
    # others in every tile
    once = [c for c in copies if c.same_every_tile]
    each = [c for c in copies if not c.same_every_tile]
    fill = [_fill(c.buffer, c.loaded, c.per_row, row_in_tile, at, rows_here, row_len)
            for c in each]
    step = tirx.Var("chunk", dtype)
    lanes = [tirx.Var(name, dtype) for name in ("lane", "tail")]
    walk = tirx.For(step, const(0), tirx.truncdiv(length + const(width - 1), const(width)),
                    ForKind.SERIAL,
                    chunk_body(flat_block, [], step * const(width), length, const(width), *lanes))
    declared = [tirx.DeclBuffer(v, data=data) for v, data in views.values()] + declare(each)
    loop = tirx.For(tile, const(0), tiles, ForKind.PARALLEL,
                    tirx.SeqStmt([*declared, *fill, walk]))
    if not once:
        return loop
    whole = tirx.Min(per_tile, rows)
    return tirx.SeqStmt([*declare(once), *[
        _fill(c.buffer, c.loaded, c.per_row, row_in_tile, at, whole, row_len) for c in once],
        loop])


@dataclass
class _Copy:
    """An input copied into a tile buffer: the buffer, a 1-D raw-bits view of the input (and the
    input's data pointer), the buffer read as the input's dtype, the load that fills it."""

    buffer: tirx.Buffer
    raw: tirx.Buffer
    data: tvm.ir.Expr
    typed: tirx.Buffer
    loaded: tvm.ir.Expr
    per_row: bool
    same_every_tile: bool


def _fill(copy, loaded, per_row: bool, row, at, rows_here, row_len) -> tirx.Stmt:
    """Copy one input into its tile buffer, row by row.

    A value per row (grad_output (N, 1)) is stored as one vector of copies at the row's start
    (the narrowest of :data:`SPREADS` that covers the row) when rows are that short: each row's
    store runs into the next row's, which the next row overwrites (the buffer has
    :data:`SPREAD` elements to spare), so a row of three costs one vector store instead of
    three scalar ones. Anything else goes element by element.
    ``loaded`` reads the input at tile row ``row``, element ``at``.
    """
    dtype = str(row_len.ty)
    zero = tirx.const(0, dtype)

    def loop(extent, kind):
        # fresh loop vars for every loop: TVM binds each var to one range
        new_row, new_at = tirx.Var("fill_row", dtype), tirx.Var("fill_at", dtype)
        renamed = {row.__chandle__(): new_row, at.__chandle__(): new_at}
        value = rewrite_expr(loaded, lambda n: renamed.get(n.__chandle__())
                             if isinstance(n, tirx.Var) else None)
        return tirx.For(new_row, zero, rows_here, ForKind.SERIAL, tirx.For(
            new_at, zero, extent, kind, tirx.BufferStore(copy, value, [new_row * row_len + new_at])))

    stmt = loop(row_len, ForKind.SERIAL)
    if not per_row:
        return stmt
    for width in reversed(SPREADS):
        spread = tirx.const(width, dtype)
        stmt = tirx.IfThenElse(row_len <= spread, loop(spread, ForKind.VECTORIZED), stmt)
    return stmt


def tile_elements(width: int) -> int:
    """The most elements a tile holds: :data:`TILE`, or one step of rows (``width`` rows at most)
    of the longest short row when that is longer (AVX-512, 64-wide chunks)."""
    return max(TILE, width * (SHORT_ROW_CHUNKS * width - 1))


def is_short(row_len, width: int):
    """The run-time condition under which rows take :func:`flat_tiles`."""
    return row_len < tirx.const(SHORT_ROW_CHUNKS * width, str(row_len.ty))
