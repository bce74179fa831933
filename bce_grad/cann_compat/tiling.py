"""``tbe.common.utils.op_tiling.do_op_tiling`` on the host: the operator's host tiling.

On CANN, tiling runs in the operator's C++ op_tiling library and yields bytes the kernel
reads. On the host, an operator registers a Python tiling function
(:func:`bce_grad.host_backend.register.register_host_tiling`) that returns its runtime
scalars; the tiling data handed to the frame carries those scalars and the actual
shapes, which the host stand-in of the runtime (:mod:`bce_grad.cann_compat.rts`) reads
back at launch. Its layout is private to these two modules.
"""
from __future__ import annotations

import json
import struct

from bce_grad.cann_compat.kernel_desc import HOST_TILING_CAPACITY

MAGIC = b"BCEGRAD-TILING\0\0"
_LENGTH = struct.Struct("<Q")


def _attrs_dict(attrs: object) -> dict:
    """CANN passes attrs as ``[{"name", "dtype", "value"}, ...]``; a dict passes through."""
    if attrs is None:
        return {}
    if isinstance(attrs, dict):
        return dict(attrs)
    return {item["name"]: item.get("value") for item in attrs if isinstance(item, dict)}


def _shape(desc: object) -> list[int] | None:
    if desc is None:
        return None
    if isinstance(desc, (list, tuple)):  # a dynamic input: several tensors
        raise NotImplementedError("do_op_tiling: dynamic (list) inputs are not supported on the host")
    shape = desc.get("shape") if desc.get("run_shape") is None else desc.get("run_shape")
    return [int(d) for d in shape]


def do_op_tiling(op_type: str, compile_info: object, inputs: list, outputs: list,
                 compile_info_hash: str | None = None, timer: object = None,
                 attrs: object = None) -> dict:
    """Tile one launch of ``op_type``: CANN's result keys, with host tiling data.

    Returns
    -------
    dict
        ``block_dim`` (1), ``tiling_key`` (0), ``workspaces`` ([]), ``clear_atomic`` (False)
        and ``tiling_data`` (bytes: the actual shapes and the runtime scalars that the
        operator's host tiling gave; none when it registered no tiling).
    """
    del compile_info_hash, timer
    from bce_grad.host_backend.register import TILINGS

    if isinstance(compile_info, str):
        compile_info = json.loads(compile_info) if compile_info else {}
    compile_info = dict(compile_info or {})
    in_descs = [d for d in inputs if d is not None]
    out_descs = [d for d in outputs if d is not None]
    tiling = TILINGS.get(op_type)
    scalars = {}
    if tiling is not None:
        as_host = [{"shape": _shape(d), "dtype": d.get("dtype")} for d in in_descs]
        outs = [{"shape": _shape(d), "dtype": d.get("dtype")} for d in out_descs]
        scalars = {k: float(v) for k, v in tiling(as_host, outs, _attrs_dict(attrs), compile_info).items()}
    payload = json.dumps({"op_type": op_type, "tiled": tiling is not None, "scalars": scalars,
                          "shapes": [_shape(d) for d in in_descs + out_descs]}).encode()
    data = MAGIC + _LENGTH.pack(len(payload)) + payload
    if len(data) > HOST_TILING_CAPACITY:
        raise ValueError(f"do_op_tiling: host tiling data of op [{op_type}] takes {len(data)} "
                         f"bytes, over the {HOST_TILING_CAPACITY} bytes a kernel declares")
    return {"block_dim": 1, "tiling_key": 0, "tiling_data": data, "workspaces": [],
            "clear_atomic": False}


def decode(raw: bytes) -> dict:
    """Read tiling data written by :func:`do_op_tiling` (``raw`` may carry trailing bytes)."""
    if not raw.startswith(MAGIC):
        raise ValueError("the tiling data was not written by the host do_op_tiling")
    start = len(MAGIC) + _LENGTH.size
    (length,) = _LENGTH.unpack(raw[len(MAGIC):start])
    return json.loads(raw[start:start + length])
