"""Drive the host runtime stand-in the way CANN's op_test_frame drives ``AscendRTSApi``.

The sequence follows the verified facts of the frame's precision stage
(``reference/cann-tools-real.md``): read ``blockDim``/``kernelName``/``magic`` from the
kernel JSON, set the device, create a stream, copy inputs in, malloc and zero outputs,
copy the tiling data in (dynamic kernels, stub ``<kernelName>_<tiling_key>``), register the
binary and the stub, launch with raw addresses, synchronise, copy outputs out, free.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from bce_grad.cann_compat.rts import HostRTSApi


def run_like_frame(json_path: Path, inputs: list[np.ndarray], outputs: list[tuple[tuple, np.dtype]],
                   tiling_info: dict | None = None) -> tuple[list[np.ndarray], HostRTSApi]:
    """Launch the kernel of ``json_path``; return its outputs and the runtime used."""
    meta = json.loads(Path(json_path).read_text())
    rts = HostRTSApi(simulator_mode="pv", soc_version=meta.get("soc_version"),
                     simulator_lib_path="unused")
    rts.set_device(0)
    stream = rts.create_stream()
    pointers = [rts.copy_bin_to_hbm(np.ascontiguousarray(a).tobytes()) for a in inputs]
    out_pointers = []
    for shape, dtype in outputs:
        size = math.prod(shape) * np.dtype(dtype).itemsize
        pointer = rts.malloc(size)
        rts.memset(pointer, size, 0, size)
        out_pointers.append((pointer, size, shape, dtype))
    args = [*pointers, *(p for p, *_ in out_pointers)]
    stub_name = meta["kernelName"]
    if tiling_info is not None:
        args.append(rts.copy_bin_to_hbm(tiling_info["tiling_data"]))
        if not stub_name.endswith("kernel0"):
            stub_name = f"{stub_name}_{tiling_info['tiling_key']}"
    binary = rts.register_device_binary_kernel(str(Path(json_path).with_suffix(".o")), magic=meta["magic"])
    stub = rts.register_function(binary, stub_name, 0)
    rts.launch_kernel(stub, meta["blockDim"], [a.value for a in args], len(args), None, stream)
    rts.synchronize_with_stream(stream)
    results = []
    for pointer, size, shape, dtype in out_pointers:
        data, _ = rts.get_data_from_hbm(pointer, size)
        results.append(np.frombuffer(data, dtype=dtype)[:math.prod(shape)].reshape(shape).copy())
    for pointer in args:
        rts.free(pointer)
    rts.destroy_stream(stream)
    rts.reset(0)
    return results, rts
