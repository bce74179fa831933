"""Device arrays for the API: DLPack producers (torch, CuPy, ...) used in place on their device.

An argument is a *device array* when it is not a numpy array and has ``__dlpack__`` and
``__dlpack_device__``: a torch tensor, a CuPy array, or any other DLPack producer. A call
with one takes this module's path, in four steps:

1. :func:`placement`: every device array of the call (inputs and ``out``) must be on one
   device, which decides the backend target: the CPU (DLPack ``kDLCPU``) runs ``llvm``
   kernels, a CUDA device (``kDLCUDA``) runs ``cuda`` kernels.
2. :func:`wrap`: each device array becomes a ``tvm_ffi.Tensor`` over the same memory (no
   copy); one that is not C-contiguous is refused, never copied.
3. :func:`tensor_of` hands the kernel what it reads: a wrapped device array as it is; a
   numpy array (or a Python scalar, made a 0-d array) in place on the CPU, **copied** to
   the device on a CUDA call. :func:`empty` allocates the output on the device (with
   ``torch.empty`` for torch, else TVM's allocator).
4. :func:`result`: ``out`` when given, else the output as the producer's own type
   (a torch tensor as allocated; ``cupy.from_dlpack`` and the like: zero-copy), where the
   producer is the first device array among x, y, grad_output and weight.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

try:
    from numpy.lib.array_utils import byte_bounds
except ImportError:  # numpy < 2
    from numpy import byte_bounds

from bce_grad.host_backend import launch, runtime_lib
from bce_grad.host_backend.errors import OpValueError
from bce_grad.op_support import OP_NAME

KDL_CPU, KDL_CUDA = 1, 2
#: The backend target whose kernels run on arrays of each DLPack device type.
TARGETS = {KDL_CPU: "llvm", KDL_CUDA: "cuda"}
_DEVICE_NAMES = {KDL_CPU: "cpu", KDL_CUDA: "cuda"}


def _error(name: str, text: str) -> OpValueError:
    return OpValueError("E80000", f"the parameter[{name}] {text}", OP_NAME, name)


def is_device_array(value: Any) -> bool:
    """Whether ``value`` takes the DLPack path: not numpy, with ``__dlpack__`` and
    ``__dlpack_device__``."""
    return (not isinstance(value, (np.ndarray, np.generic)) and hasattr(value, "__dlpack__")
            and hasattr(value, "__dlpack_device__"))


def device_text(device: tuple[int, int]) -> str:
    """``cuda:0``, ``cpu:0``; another DLPack device type as ``device type 10, id 0``."""
    kind, index = device
    if kind in _DEVICE_NAMES:
        return f"{_DEVICE_NAMES[kind]}:{index}"
    return f"device type {kind}, id {index}"


@dataclass(frozen=True)
class Placement:
    """Where a call with device arrays runs.

    Attributes
    ----------
    device : (int, int)
        DLPack device type and id.
    producer : object
        The device array whose type the result takes: ``out``, else the first device array
        among x, y, grad_output and weight.
    """

    device: tuple[int, int]
    producer: Any

    @property
    def target(self) -> str:
        """The backend target of the device: ``"llvm"`` or ``"cuda"``."""
        return TARGETS[self.device[0]]

    def tvm_device(self):
        """The device as a ``tvm_ffi.Device``."""
        import tvm_ffi

        return tvm_ffi.device(*self.device)


def _device_of(value: Any, name: str) -> tuple[int, int]:
    try:
        kind, index = value.__dlpack_device__()
        return int(kind), int(index)
    except Exception as err:  # a producer's own error, whatever its type
        raise _error(name, f"should report its device as (device type, id) from "
                     f"__dlpack_device__(), but that raised [{err}]") from None


def placement(inputs: Mapping[str, Any], out: Any = None) -> Placement | None:
    """The device of a call's device arrays; None when it has none (the numpy path).

    Parameters
    ----------
    inputs : mapping of str to object
        The array arguments by name, in the operator's order (x, y, grad_output, weight).
        numpy arrays count as host memory and are not device arrays.
    out : object, optional
        The ``out=`` argument.

    Raises
    ------
    OpValueError
        E80000, naming the parameter: device arrays on two devices; a device other than the
        CPU or CUDA; a CUDA device this machine cannot open; a numpy ``out`` on a CUDA call.
    """
    located = {name: _device_of(value, name) for name, value in {**inputs, "out": out}.items()
               if is_device_array(value)}
    if not located:
        return None
    first = next(iter(located))
    device = located[first]
    for name, other in located.items():
        if other != device:
            raise _error(name, f"should be on the device of parameter[{first}] "
                         f"({device_text(device)}): all device arrays of a call share one device, "
                         f"but actually is on [{device_text(other)}]")
    kind, index = device
    if kind not in TARGETS:
        raise _error(first, f"should be on the CPU or a CUDA device (DLPack device type "
                     f"{sorted(TARGETS)}), but actually is on [{device_text(device)}]")
    if kind == KDL_CUDA:
        count = runtime_lib.cuda_device_count()
        if index >= count:
            raise _error(first, f"is on [{device_text(device)}], which needs the cuda target, but "
                         f"this machine has {count} usable CUDA device(s) (libcuda could not be "
                         f"loaded or reports fewer)")
    if isinstance(out, np.ndarray) and kind != KDL_CPU:
        raise _error("out", f"should be on the inputs' device ({device_text(device)}) as a "
                     f"DLPack array, but actually is a numpy.ndarray (host memory)")
    return Placement(device, out if is_device_array(out) else inputs[first])


@dataclass(frozen=True)
class DeviceArray:
    """A device array wrapped for TVM without a copy.

    Attributes
    ----------
    tensor : tvm_ffi.Tensor
        The same memory, as TVM sees it.
    source : object or None
        The caller's object; None for an output this module allocated.
    """

    tensor: Any
    source: Any = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.tensor.shape)

    @property
    def dtype(self) -> str:
        return str(self.tensor.dtype)

    @property
    def device(self) -> tuple[int, int]:
        device = self.tensor.device
        return int(device.dlpack_device_type()), int(device.index)

    def span(self) -> tuple[int, int]:
        """The first and one-past-last byte addresses of its (contiguous) data."""
        start = self.tensor.data_ptr()
        return start, start + self.tensor.numel() * self.tensor.dtype.itemsize


def wrap(value: Any, name: str) -> DeviceArray:
    """Wrap the device array ``value`` (the argument ``name``) without a copy.

    Raises
    ------
    OpValueError
        E80000 when its ``__dlpack__`` fails (a dtype DLPack cannot carry, a torch tensor
        that requires grad, ...) or when it is not C-contiguous: device arrays are read
        and written in place, never copied.
    """
    import tvm_ffi

    try:
        tensor = tvm_ffi.from_dlpack(value, require_alignment=0)
    except Exception as err:  # the producer's own error, whatever its type
        raise _error(name, f"should be a DLPack array that can be read in place, but exporting "
                     f"it failed: [{err}]") from None
    if not tensor.is_contiguous():
        raise _error(name, f"should be C-contiguous: device arrays are used in place, never "
                     f"copied (make it contiguous first, or pass it unexpanded: the operator "
                     f"broadcasts y, grad_output and weight itself), but actually has shape "
                     f"{list(tensor.shape)} and strides {list(tensor.strides)}")
    return DeviceArray(tensor, value)


def may_share_memory(a: Any, b: Any) -> bool:
    """Whether two arrays (numpy arrays or :class:`DeviceArray`) may overlap in memory."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return bool(np.may_share_memory(a, b))
    (dev_a, lo_a, hi_a), (dev_b, lo_b, hi_b) = _extent(a), _extent(b)
    return dev_a == dev_b and lo_a < hi_b and lo_b < hi_a


def _extent(array: Any) -> tuple[tuple[int, int], int, int]:
    if isinstance(array, DeviceArray):
        return (array.device, *array.span())
    return ((KDL_CPU, 0), *byte_bounds(array))


def tensor_of(array: Any, place: Placement):
    """What the kernel gets for ``array``: a :class:`DeviceArray`'s tensor as it is; a numpy
    array in place on the CPU, or **copied** to the device of a CUDA call."""
    if isinstance(array, DeviceArray):
        return array.tensor
    if place.device[0] == KDL_CPU:
        return launch.host_tensor(np.ascontiguousarray(array), str(array.dtype))
    return launch.to_device(array, place.tvm_device())


def empty(shape: tuple[int, ...], dtype: str, place: Placement) -> DeviceArray:
    """A new output of ``shape`` and ``dtype`` on the call's device.

    A torch producer gets a ``torch.empty`` tensor (torch's caching allocator: no
    ``cudaMalloc``/``cudaFree`` per call); any other producer a TVM allocation.
    """
    if _package_of(place.producer) == "torch":
        torch = sys.modules["torch"]
        kind, index = place.device
        return wrap(torch.empty(shape, dtype=getattr(torch, dtype),
                                device=torch.device(_DEVICE_NAMES[kind], index)), "out")
    return DeviceArray(launch.empty(shape, dtype, place.tvm_device()))


def _package_of(producer: Any) -> str:
    return (type(producer).__module__ or "").split(".")[0]


def stream_of(place: Placement) -> int | None:
    """The producer's current CUDA stream (torch's, CuPy's) as a raw handle, so the kernel runs
    after the work queued on it; None on the CPU or for another producer (TVM's current
    stream for the device, the default stream unless set with ``tvm_ffi.use_raw_stream``)."""
    if place.device[0] != KDL_CUDA:
        return None
    package = _package_of(place.producer)
    if package == "torch":
        return int(sys.modules["torch"].cuda.current_stream(place.device[1]).cuda_stream)
    if package == "cupy":
        cupy = sys.modules["cupy"]
        with cupy.cuda.Device(place.device[1]):
            return int(cupy.cuda.get_current_stream().ptr)
    return None


def result(array: Any, place: Placement) -> Any:
    """What the call returns: ``out`` as given, else the output as the producer's type.

    A torch output is the tensor :func:`empty` allocated. Another output becomes the
    producer's type through its module's ``from_dlpack`` (``cupy.from_dlpack``), which shares
    the memory; a producer whose module has none gets the ``tvm_ffi.Tensor`` itself, a
    DLPack producer too.
    """
    if isinstance(array, np.ndarray):
        return array
    if array.source is not None:
        return array.source
    from_dlpack = _from_dlpack_of(place.producer)
    return array.tensor if from_dlpack is None else from_dlpack(array.tensor)


def _from_dlpack_of(producer: Any):
    module_name = type(producer).__module__ or ""
    for name in (module_name, module_name.split(".")[0]):  # imported: the producer's type exists
        from_dlpack = getattr(sys.modules.get(name), "from_dlpack", None)
        if callable(from_dlpack):
            return from_dlpack
    return None
