"""A host stand-in for op_test_frame's runtime seam (``op_test_frame.runtime.AscendRTSApi``).

CANN's frame drives its runtime through one class: set the device, open a stream, malloc,
memset, copy host bytes in, register a kernel binary and a stub function, launch with raw
addresses, synchronise, copy bytes out, free. :class:`HostRTSApi` offers those methods with
the same signatures and return types (``ctypes.c_void_p`` addresses, ``(bytes, pointer)``
from :meth:`~HostRTSApi.get_data_from_hbm`), over host memory it owns, and launches host
kernels built by the host backend:

- the binary ``<kernel>.o`` must match the ``sha256`` of its ``<kernel>.json`` (its
  launches run the ``.so`` the same build linked from it, which the host loader checks
  against ``so_sha256``);
- a static kernel's arguments are its tensors, in the kernel's order, with the shapes its
  JSON records; a dynamic kernel gets one more argument, the tiling data of
  :func:`bce_grad.cann_compat.tiling.do_op_tiling`, which carries the actual shapes and
  runtime scalars. Shapes are canonicalised as the host backend's ``classify`` does, so
  the launch picks the case compiled for that broadcast pattern.

Every address must come from this object's allocations: anything else is refused, never
read.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bce_grad.cann_compat import kernel_desc, tiling
from bce_grad.cann_compat.errors import UnsupportedApiError

_ALIGN = 64


@dataclass
class _Block:
    owner: np.ndarray
    address: int
    size: int

    def view(self, nbytes: int, offset: int = 0) -> np.ndarray:
        start = self.address - self.owner.ctypes.data + offset
        return self.owner[start:start + nbytes]


@dataclass
class _Function:
    json_path: Path
    meta: dict
    stub_name: str


def _np_dtype(name: str) -> np.dtype:
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def _address(pointer: object) -> int:
    value = pointer.value if isinstance(pointer, (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint64)) \
        else pointer
    if isinstance(value, bytes):
        raise TypeError("an address was expected, got a name")
    return int(value or 0)


class HostRTSApi:  # pylint: disable=too-many-public-methods
    """``AscendRTSApi``'s interface, on the host. The simulator arguments are accepted and unused."""

    def __init__(self, simulator_mode: str | None = None, soc_version: str | None = None,
                 simulator_lib_path: str | None = None, simulator_dump_path: str = "./model") -> None:
        del simulator_lib_path, simulator_dump_path
        self.simulator_mode = simulator_mode
        self.soc_version = soc_version
        self.device_id: int | None = None
        self._blocks: dict[int, _Block] = {}
        self._binaries: dict[int, Path] = {}
        self._functions: dict[bytes, _Function] = {}
        self._streams: set[int] = set()
        self._keep: list[object] = []
        self.launches: list[dict] = []  # what ran: kernel, shapes, scalars (for tests and logs)

    # device, context, stream
    def set_device(self, device_id: int) -> None:
        self.device_id = device_id

    def reset(self, device_id: int | None = None) -> None:
        del device_id
        self._blocks.clear()
        self._functions.clear()
        self._binaries.clear()

    def create_context(self, context_mode: str = "RT_CTX_NORMAL_MODE") -> ctypes.c_void_p:
        del context_mode
        return ctypes.c_void_p(1)

    def destroy_context(self, c_context: ctypes.c_void_p | None = None) -> None:
        del c_context

    def set_context(self, c_context: ctypes.c_void_p) -> None:
        del c_context

    def create_stream(self, priority: int = 0) -> ctypes.c_void_p:
        del priority
        handle = len(self._streams) + 1
        self._streams.add(handle)
        return ctypes.c_void_p(handle)

    def destroy_stream(self, stream: ctypes.c_void_p) -> None:
        self._streams.discard(_address(stream))

    def synchronize_with_stream(self, stream: object) -> None:
        """Launches run to completion on the calling thread: nothing is pending."""
        del stream

    # memory
    def malloc(self, memory_size: int, memory_type: str = "RT_MEMORY_DEFAULT",
               memory_policy: str = "RT_MEMORY_POLICY_NONE") -> ctypes.c_void_p:
        del memory_type, memory_policy
        size = int(memory_size)
        if size < 0:
            raise ValueError(f"malloc: the size should be >= 0, but actually is [{size}]")
        owner = np.zeros(size + _ALIGN, dtype=np.uint8)
        address = -(-owner.ctypes.data // _ALIGN) * _ALIGN
        self._blocks[address] = _Block(owner, address, size)
        return ctypes.c_void_p(address)

    host_malloc = malloc

    def free(self, c_memory_p: object) -> None:
        self._blocks.pop(_address(c_memory_p), None)

    host_free = free

    def _block(self, pointer: object, nbytes: int, api: str) -> _Block:
        address = _address(pointer)
        for block in self._blocks.values():
            if block.address <= address and address + nbytes <= block.address + block.size:
                if address != block.address:
                    return _Block(block.owner, address, block.address + block.size - address)
                return block
        raise ValueError(f"{api}: address {address:#x} (+{nbytes} bytes) was not allocated by "
                         f"this runtime")

    def memset(self, c_memory_p: object, memory_size: int, data: int, count: int) -> None:
        nbytes = min(int(count), int(memory_size))
        self._block(c_memory_p, nbytes, "memset").view(nbytes)[:] = int(data) & 0xFF

    def memcpy(self, c_memory_p: object, memory_size: int, data: object, data_size: int,
               memcpy_kind: str = "RT_MEMCPY_HOST_TO_HOST", retry_count: int = 0) -> None:
        del memcpy_kind, retry_count
        if data_size > memory_size:
            raise ValueError(f"memcpy: {data_size} bytes do not fit a {memory_size}-byte buffer")
        target = self._block(c_memory_p, data_size, "memcpy").view(data_size)
        if isinstance(data, (bytes, bytearray, memoryview)):
            target[:] = np.frombuffer(bytes(data)[:data_size], dtype=np.uint8)
        else:
            target[:] = self._block(data, data_size, "memcpy").view(data_size)

    def copy_bin_to_hbm(self, data: bytes) -> ctypes.c_void_p:
        if not isinstance(data, bytes):
            raise TypeError(f"copy_bin_to_hbm supports bytes only, received {type(data)}")
        size = int(math.ceil(len(data) / 32) * 32 + 32)
        pointer = self.malloc(size)
        self.memcpy(pointer, size, data, len(data))
        return pointer

    def copy_bin_file_to_hbm(self, bin_path: str) -> ctypes.c_void_p:
        return self.copy_bin_to_hbm(Path(bin_path).read_bytes())

    def get_data_from_hbm(self, c_memory_p: object, data_size: int) -> tuple[bytes, ctypes.c_void_p]:
        data = self._block(c_memory_p, data_size, "get_data_from_hbm").view(data_size).tobytes()
        host = self.malloc(data_size)
        self.memcpy(host, data_size, data, data_size)
        return data, host

    # kernels
    def register_device_binary_kernel(self, kernel_path: str,
                                      magic: str = "RT_DEV_BINARY_MAGIC_ELF") -> ctypes.c_void_p:
        bin_path = Path(kernel_path)
        json_path = bin_path.with_suffix(".json")
        meta = json.loads(json_path.read_text())
        if not str(magic).startswith(kernel_desc.HOST_MAGIC_PREFIX) or magic != meta.get("magic"):
            raise ValueError(f"register_device_binary_kernel: {bin_path} has magic [{magic}]; the "
                             f"host runtime runs host kernels only (magic "
                             f"{kernel_desc.HOST_MAGIC_PREFIX}<TARGET>, from bce_grad's build)")
        expected = meta.get("sha256")
        if not expected or hashlib.sha256(bin_path.read_bytes()).hexdigest() != expected:
            raise ValueError(f"register_device_binary_kernel: {bin_path} does not match the "
                             f"sha256 of {json_path.name}; rebuild the kernel")
        handle = len(self._binaries) + 1
        self._binaries[handle] = json_path
        return ctypes.c_void_p(handle)

    def unregister_device_binary_kernel(self, rts_binary_handle: ctypes.c_void_p) -> None:
        self._binaries.pop(_address(rts_binary_handle), None)

    def register_function(self, rts_binary_handle: ctypes.c_void_p, kernel_name: str,
                          func_mode: int) -> ctypes.c_char_p:
        del func_mode
        json_path = self._binaries[_address(rts_binary_handle)]
        meta = json.loads(json_path.read_text())
        stem = meta["kernelName"]
        key = kernel_name[len(stem) + 1:] if kernel_name.startswith(stem + "_") else None
        if kernel_name != stem and not (key and key.isdigit()):
            raise ValueError(f"register_function: {json_path.name} has no stub [{kernel_name}]; its "
                             f"kernelName is [{stem}] (tiling keys append _<key>)")
        name = kernel_name.encode()
        self._functions[name] = _Function(json_path, meta, kernel_name)
        stub = ctypes.c_char_p(name)
        self._keep.append(stub)
        return stub

    def launch_kernel(self, stub_func: ctypes.c_char_p, block_dim: int, args: tuple | list,
                      s_args: int, sm_desc: object, stream: object) -> None:
        del block_dim, sm_desc, stream
        from bce_grad.host_backend.dsl.classify import canonical_pattern
        from bce_grad.host_backend.launch import load_kernel

        function = self._functions[stub_func.value]
        meta = function.meta
        specs_by_case = [case["tensors"] for case in meta["cases"]]
        count = len(specs_by_case[0])
        addresses = [int(a) for a in list(args)[:s_args]]
        scalars: dict = {}
        tiled: dict = {}
        if kernel_desc.is_dynamic(meta):
            if len(addresses) != count + 1:
                raise ValueError(f"launch_kernel: dynamic kernel [{meta['name']}] takes {count} "
                                 f"tensors and its tiling data, but got {len(addresses)} arguments")
            block = self._block(addresses[-1], 0, "launch_kernel")
            raw = block.view(block.size).tobytes()
            tiled = tiling.decode(raw)
            shapes = [tuple(s) for s in tiled["shapes"]]
            scalars = tiled["scalars"]
            if len(shapes) != count:
                raise ValueError(f"launch_kernel: kernel [{meta['name']}] takes {count} tensors, but "
                                 f"the tiling data describes {len(shapes)}")
            shapes = canonical_pattern(shapes)
        else:
            if len(addresses) != count:
                raise ValueError(f"launch_kernel: static kernel [{meta['name']}] takes {count} "
                                 f"tensors, but got {len(addresses)} arguments")
            shapes = [tuple(t["shape"]) for t in specs_by_case[0]]
        kernel = load_kernel(function.json_path)
        case = kernel.case_for(shapes)
        arrays = []
        for address, spec, shape in zip(addresses, case["tensors"], shapes):
            dtype = _np_dtype(spec["dtype"])
            nbytes = math.prod(shape) * dtype.itemsize
            arrays.append(self._block(address, nbytes, "launch_kernel").view(nbytes)
                          .view(dtype).reshape(shape))
        missing = [s["name"] for s in case["scalars"] if s["name"] not in scalars]
        if missing:
            raise UnsupportedApiError(
                f"launching kernel [{meta['name']}]",
                f"it needs the runtime scalars {missing}, and op "
                f"[{tiled.get('op_type')}] registered no host tiling (register_host_tiling) "
                f"that supplies them; CANN computes them in its C++ op_tiling library")
        kernel(arrays, scalars)
        self.launches.append({"kernel": meta["name"], "shapes": [list(s) for s in shapes],
                              "scalars": scalars})

    # what the host cannot do
    def _unsupported(self, api: str):
        raise UnsupportedApiError(f"AscendRTSApi.{api}", "it reads an Ascend device or profiler")

    def get_device_info(self, *_args: object) -> None:
        self._unsupported("get_device_info")

    def get_memory_info_ex(self, *_args: object) -> None:
        self._unsupported("get_memory_info_ex")

    def start_online_profiling(self, *_args: object) -> None:
        self._unsupported("start_online_profiling")

    def stop_online_profiling(self, *_args: object) -> None:
        self._unsupported("stop_online_profiling")

    def get_online_profiling_data(self, *_args: object) -> None:
        self._unsupported("get_online_profiling_data")
