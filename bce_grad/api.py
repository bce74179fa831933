"""Python API for callers outside CANN: aclnn's argument order and rules, on the host backend.

:func:`binary_cross_entropy_backward` plays the parts CANN's stack plays on an NPU:
it checks the call against the op info of the SoC (as FE does), promotes dtypes
(as aclnn does), compiles the operator's dynamic entry on first use (as ATC does),
then launches the kernel through the native runtime (``bce_grad.runtime``: C++ tiling
and launch, as CANN's op tiling and runtime). Kernels are cached by content on disk
(:mod:`bce_grad.kernel_cache`: verified before use, rebuilt when damaged) and
registered in the runtime's package for this SoC and environment
(:mod:`bce_grad.runtime.cache_package`), so a warm call goes from the argument types
straight to ``bce_grad_backward``; anything the runtime does not serve takes the full
Python path. Without a C++ compiler, kernels launch through Python (one warning).

Device arrays (torch tensors, CuPy arrays, any DLPack producer that is not numpy) take
:mod:`bce_grad.device_arrays`' path: the same checks and tiling, then the kernel runs on
their own device, in place (:meth:`~bce_grad.host_backend.launch.Kernel.launch_tensors`),
with a kernel built for that device (CPU: ``llvm``; CUDA: ``cuda``).

The call is thread-safe: the SoC it selects, the compile context and the output
directory of a compile are context-local, never process-wide. A warm call (kernel
cached on disk) does not import the ``tvm`` compiler, only TVM's runtime.

Errors are :class:`~bce_grad.host_backend.errors.OpError` (a ``RuntimeError``, as
CANN raises) with a CANN error code; a bad value is also a ``ValueError``
(:class:`~bce_grad.host_backend.errors.OpValueError`), an argument of the wrong type
also a ``TypeError`` (:class:`~bce_grad.host_backend.errors.OpTypeError`).
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from bce_grad import array_checks, device_arrays
from bce_grad.device_arrays import DeviceArray, Placement
from bce_grad.host_backend import platform
from bce_grad.host_backend.errors import OpError, OpTypeError, OpValueError
from bce_grad.host_backend.register import get_host_tiling
from bce_grad.host_backend.soc_table import canonical_soc, soc_info
from bce_grad.runtime import cache_package, native
from bce_grad import kernel_cache
from bce_grad.op_messages import DTYPE
from bce_grad.op_support import (DTYPES, OP_NAME, OP_TYPE, SOC_DIRS, normalize_reduction,
                                 numpy_dtype, soc_dir_for_short_soc, supported_dtypes)
from bce_grad._impl.binary_cross_entropy_grad import check_binary_cross_entropy_grad, promote_dtypes
from bce_grad._impl.dynamic import binary_cross_entropy_grad as _dynamic_entry  # noqa: F401 - registers the host tiling

NUMPY_DTYPES = {name: numpy_dtype(name) for name in DTYPES}
#: An array argument: a numpy.ndarray, or a device array (any DLPack producer: torch, CuPy...).
ArrayLike = Any


def dtype_name(array: np.ndarray | DeviceArray) -> str:
    """The dtype name of an array (a wrapped device array included): ``float16``, ``bfloat16``,
    ``float32``, ..."""
    if isinstance(array, (np.ndarray, DeviceArray)):
        return str(array.dtype)
    return str(np.asarray(array).dtype)


def check_dtypes(soc: str, dtypes: Mapping[str, str]) -> None:
    """Refuse any dtype that the SoC's op info does not list (``op_info_cfg``)."""
    short = soc_info(soc).short_soc_version
    soc_dir = soc_dir_for_short_soc(short)
    if soc_dir not in SOC_DIRS:
        raise OpError("E80000", f"the parameter[soc] should be a SoC this operator supports "
                      f"({', '.join(SOC_DIRS)} in op_info_cfg/ai_core), but actually is [{soc}] "
                      f"({short})", OP_NAME, "soc")
    for name, dtype in dtypes.items():
        allowed = supported_dtypes(soc_dir, name)  # the compiled op info, read once
        if dtype not in allowed:
            raise OpError(DTYPE.code, DTYPE.text(param=name, allowed=list(allowed), soc=soc,
                                                 soc_dir=soc_dir, dtype=dtype), OP_NAME, name)


def normalize_out_dtype(out_dtype: Any) -> str | None:
    """Accept a dtype name (``"float16"``, ``"bfloat16"``, ``"float32"``), a numpy dtype or a
    scalar type (``np.float16``, ``ml_dtypes.bfloat16``); None means "the promoted dtype"."""
    if out_dtype is None:
        return None
    if isinstance(out_dtype, str):
        name = out_dtype
    elif isinstance(out_dtype, np.dtype) or (isinstance(out_dtype, type)
                                             and issubclass(out_dtype, np.generic)):
        name = np.dtype(out_dtype).name
    else:
        raise OpTypeError("E80008", f"the parameter[out_dtype] should be a dtype name, a numpy "
                          f"dtype or None, but actually is [{out_dtype!r}] of type "
                          f"[{type(out_dtype).__name__}]", OP_NAME, "out_dtype")
    if name not in DTYPES:
        raise OpValueError("E80008", f"the parameter[out_dtype] should be one of {list(DTYPES)}, "
                           f"but actually is [{out_dtype!r}]", OP_NAME, "out_dtype")
    return name


def _resolve_soc(soc: Any) -> str:
    if soc is None:
        return platform.current_soc().soc_version  # this context's SoC, else BCE_GRAD_SOC
    if not isinstance(soc, str):
        raise OpTypeError("E80000", f"the parameter[soc] should be a SoC version string or None, "
                          f"but actually is of type [{type(soc).__name__}]", OP_NAME, "soc")
    if not soc:
        raise OpValueError("E80000", "the parameter[soc] should be a SoC version such as "
                           f"{platform.DEFAULT_SOC_VERSION}, but actually is empty", OP_NAME, "soc")
    try:
        return canonical_soc(soc)  # any spelling the CLI's --soc takes
    except OpError as err:
        raise OpValueError("E80000", f"the parameter[soc] should name a SoC version such as "
                           f"{platform.DEFAULT_SOC_VERSION}, but actually is [{soc}] ({err.detail})",
                           OP_NAME, "soc") from None


def _is_python_scalar(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, (bool, np.generic))


def _check_out(out: Any, shape: tuple[int, ...], dtype: np.dtype,
               inputs: Mapping[str, Any]) -> np.ndarray | DeviceArray:
    """Check ``out=``: an ndarray (or a wrapped device array, C-contiguous by construction) of
    x's shape and the result dtype, C-contiguous, writeable, not overlapping an input."""
    if not isinstance(out, (np.ndarray, DeviceArray)):
        raise OpTypeError("E80000", f"the parameter[out] should be a numpy.ndarray, a DLPack "
                          f"array on the inputs' device (torch, CuPy, ...) or None, but actually "
                          f"is of type [{type(out).__name__}]", OP_NAME, "out")
    problems = []
    if tuple(out.shape) != shape:
        problems.append(f"shape {list(out.shape)} should be x's shape {list(shape)}")
    host = isinstance(out, np.ndarray)
    if (out.dtype.name if host else dtype_name(out)) != dtype.name:  # byte order: out_problems
        problems.append(f"dtype {out.dtype} should be the result dtype {dtype}")
    if host and not out.flags.c_contiguous:
        problems.append("it should be C-contiguous")
    if host:
        problems += array_checks.out_problems(out)
    clash = [name for name, a in inputs.items() if device_arrays.may_share_memory(out, a)]
    if clash:
        problems.append(f"it should not overlap the input(s) {clash}")
    if problems:
        raise array_checks.unusable_out(problems)
    return out


def binary_cross_entropy_backward(grad_output: ArrayLike | float, x: ArrayLike, y: ArrayLike,
                                  weight: ArrayLike | float | None = None,
                                  reduction: str | int = "mean", *, soc: str | None = None,
                                  out_dtype: str | np.dtype | type | None = None,
                                  out: ArrayLike | None = None) -> ArrayLike:
    """Gradient of binary cross entropy with respect to ``x``, on the host backend.

    Parameters
    ----------
    grad_output : numpy.ndarray, device array or float
        Incoming gradient, broadcast to x. A Python ``float`` or ``int`` (not ``bool``) is a
        0-d array of the dtype the array inputs promote to.
    x, y : numpy.ndarray or device array
        Prediction and target. float16, bfloat16 (``ml_dtypes.bfloat16``) or float32; mixed
        dtypes promote (float32 wins, float16 with bfloat16 gives float32). y broadcasts to x.
        numpy arrays: any layout works: read-only arrays (``np.load(mmap_mode="r")``,
        ``np.frombuffer``) are read in place; strided, Fortran-ordered or negative-stride
        arrays are copied, and so are arrays in a non-native byte order (``>f4``: converted).
        Device arrays (any DLPack producer that is not numpy: torch tensors, CuPy arrays) are
        read in place on their device, never copied: they must be C-contiguous (an expanded
        or transposed one is refused, E80000) and all on one device, the CPU or a CUDA
        device. The device decides the kernel's target for this call (CPU: ``llvm``, CUDA:
        ``cuda``, which needs a GPU). numpy arrays and Python scalars mixed with device
        arrays are read in place on the CPU and **copied** to a CUDA device.
    weight : numpy.ndarray, device array or float, optional
        Per-element weight, broadcast to x; None means 1. A Python scalar as for grad_output.
    reduction : {"none", "mean", "sum"} or {0, 1, 2}
        ``"mean"`` scales by ``1/numel(x)``.
    soc : str, optional
        SoC version, spelt as the CLI's ``--soc`` takes it: full (``Ascend910B1``), short
        (``Ascend910B``) or as op_info_cfg names it (``ascend910b``), in any case. Default:
        the SoC selected in this thread or task
        (``platform.use_soc``), else ``$BCE_GRAD_SOC``, else ``Ascend910B1``.
    out_dtype : str, numpy dtype or scalar type, optional
        dtype of the result: ``"float16"``, ``"bfloat16"``, ``"float32"``, ``np.float16``,
        ``np.dtype("float32")``, ``ml_dtypes.bfloat16``... Default: the promoted input dtype.
    out : numpy.ndarray or device array, optional
        Where to write the result: C-contiguous, writeable, native byte order, x's shape, the
        result dtype, not overlapping an input (else E80000 naming ``out``, nothing written);
        a device array on the inputs' device (a numpy ``out`` only where that device is the
        CPU). The call writes into it in place and returns it.

    Returns
    -------
    numpy.ndarray or device array
        ``grad_output * weight * (x - y) / max(x * (1 - x), 1e-12)`` [``/ numel(x)``], x's
        shape; ``out`` when given. With device arrays, a new result is allocated on their
        device and returned as the type of the first device array among x, y, grad_output
        and weight: a torch tensor (``torch.empty``), else through its module's
        ``from_dlpack`` (``cupy.from_dlpack``: zero-copy), or as a ``tvm_ffi.Tensor`` where
        that module has none. On CUDA the kernel is queued on the producer's current stream (torch, CuPy;
        else TVM's default stream) and the call does not wait for it.

    Raises
    ------
    OpValueError
        (a ``RuntimeError`` and a ``ValueError``) for a bad reduction, dtype, shape, rank, SoC,
        ``out``, or environment variable (``BCE_GRAD_SOC``, ``BCE_GRAD_CACHE``, ...); the
        message names the parameter, the rule and the value.
    OpTypeError
        (a ``RuntimeError`` and a ``TypeError``) for an argument of the wrong type, or a
        mandatory one that is None.
    """
    if out_dtype is None:  # the runtime's package already holds the kernel: no Python checks
        package = cache_package.lookup(soc)
        if package is not None:
            result = package.try_backward(grad_output, x, y, weight, reduction, out)
            if result is not None:
                return result
    try:
        return _backward(grad_output, x, y, weight, reduction, soc, out_dtype, out)
    except OpError as err:
        if isinstance(err, (ValueError, TypeError)):
            raise
        raise OpValueError.from_error(err) from None


def _backward(grad_output: Any, x: Any, y: Any, weight: Any, reduction: Any, soc: Any,
              out_dtype: Any, out: Any) -> Any:
    reduction = normalize_reduction(reduction)
    result_name = normalize_out_dtype(out_dtype)
    package_key, soc = cache_package.context_key(soc), _resolve_soc(soc)
    given = {"x": x, "y": y, "grad_output": grad_output}
    missing = [name for name, value in given.items() if value is None]
    if missing:
        raise OpTypeError("E80001", f"the mandatory parameter[{missing[0]}] is missing (None)",
                          OP_NAME, missing[0])
    if weight is not None:
        given["weight"] = weight
    flags = [name for name, value in given.items() if isinstance(value, (bool, np.bool_))]
    if flags:
        raise OpTypeError("E80008", f"the parameter[{flags[0]}] should be an array or a float, "
                          f"but actually is the bool [{given[flags[0]]}]", OP_NAME, flags[0])
    scalars = {n for n in ("grad_output", "weight") if n in given and _is_python_scalar(given[n])}
    place = device_arrays.placement({n: v for n, v in given.items() if n not in scalars}, out)
    arrays = {n: _as_array(v, n) for n, v in given.items() if n not in scalars}
    if scalars:
        promoted = np.dtype(NUMPY_DTYPES.get(promote_dtypes(dtype_name(a) for a in arrays.values()),
                                             np.float64))
        for name in scalars:
            try:
                arrays[name] = np.array(given[name], dtype=promoted)
            except OverflowError:
                raise OpValueError("E80002", f"the parameter[{name}] = {given[name]!r} does not fit "
                                   f"the dtype {promoted}", OP_NAME, name) from None
        arrays = {n: arrays[n] for n in given}  # the operator's order: x, y, grad_output, weight
    if place is None:
        return _checked_call(arrays, reduction, soc, result_name, out, package_key, None)
    if device_arrays.is_device_array(out):
        out = device_arrays.wrap(out, "out")
    with platform.use_backend_target(place.target):  # the device decides the target
        return _checked_call(arrays, reduction, soc, result_name, out, package_key, place)


def _as_array(value: Any, name: str) -> Any:
    """numpy arrays as they are (a byte-swapped one as a native copy:
    :func:`array_checks.native_order`), device arrays wrapped in place, anything else
    ``np.asarray``."""
    if isinstance(value, np.ndarray):
        return array_checks.native_order(value)
    if device_arrays.is_device_array(value):
        return device_arrays.wrap(value, name)
    return array_checks.native_order(np.asarray(value))


def _new_output(shape: tuple[int, ...], dtype: str, place: Placement | None) -> Any:
    if place is None:
        return np.empty(shape, dtype=NUMPY_DTYPES[dtype])
    return device_arrays.empty(shape, dtype, place)


def _checked_call(arrays: dict[str, Any], reduction: str, soc: str, result_name: str | None,
                  out: Any, package_key: tuple, place: Placement | None) -> Any:
    """Check the call against the op info and the operator's rules, then launch it: through
    the native runtime or Python for numpy (``place`` None), in place on ``place``'s device
    for device arrays."""
    with platform.use_soc(soc) as info:
        dtypes = {name: dtype_name(a) for name, a in arrays.items()}
        check_dtypes(info.soc_version, dtypes)
        result_dtype = result_name or promote_dtypes(dtypes.values())
        check_dtypes(info.soc_version, {"output": result_dtype})
        descs = {name: {"shape": list(a.shape), "dtype": dtypes[name]} for name, a in arrays.items()}
        check_binary_cross_entropy_grad(  # the operator's own rules: rank, broadcast to x, ...
            descs["x"], descs["y"], descs["grad_output"], descs.get("weight"),
            {"shape": list(arrays["x"].shape), "dtype": result_dtype}, reduction, OP_NAME)
        shape_x = tuple(arrays["x"].shape)
        if out is not None:
            out = _check_out(out, shape_x, np.dtype(NUMPY_DTYPES[result_dtype]), arrays)
        if math.prod(shape_x) == 0:
            result = out if out is not None else _new_output(shape_x, result_dtype, place)
            return result if place is None else device_arrays.result(result, place)
        package, status = None, None
        if place is None:
            result = out if out is not None else _new_output(shape_x, result_dtype, None)
            package = cache_package.package_for(package_key, info.soc_version)
            status = None if package is None else package.backward(arrays, reduction, result)
            if status == native.OK:  # the runtime already holds the kernel: no cache lookup
                return result
        kernel, pattern = kernel_cache.get_kernel(arrays, result_dtype, reduction, info)
        if place is not None:  # allocated once the kernel exists: a failed build leaves nothing
            result = out if out is not None else _new_output(shape_x, result_dtype, place)
            kernel.launch_tensors([device_arrays.tensor_of(a, place)
                                   for a in (*arrays.values(), result)],
                                  _tiling_scalars(kernel, descs, shape_x, result_dtype, reduction),
                                  device_arrays.stream_of(place))
            return device_arrays.result(result, place)
        if status == native.ERR_NO_KERNEL:  # first use in this process, or rebuilt since
            try:
                package.register(kernel.json_path, kernel.meta, list(dtypes.values()),
                                 result_dtype, reduction, pattern)
                if package.backward(arrays, reduction, result) == native.OK:
                    return result
            except OpError:  # replaced between the cache's check and ours: launch below
                pass
        # the Python launch: the kernel picks its case and binds the arrays (contiguous ones,
        # read-only included, as reshaped views; others copied)
        kernel([*arrays.values(), result],
               _tiling_scalars(kernel, descs, shape_x, result_dtype, reduction))
        return result


def _tiling_scalars(kernel: Any, descs: Mapping[str, dict], shape_x: tuple[int, ...],
                    result_dtype: str, reduction: str) -> dict:
    """The host tiling's runtime scalars for this call (the mean coefficient, ...)."""
    tiling = get_host_tiling(OP_TYPE)
    return tiling(list(descs.values()), [{"shape": list(shape_x), "dtype": result_dtype}],
                  {"reduction": reduction}, kernel.meta.get("compile_info", {}))
