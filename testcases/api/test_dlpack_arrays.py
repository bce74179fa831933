"""Device arrays (DLPack producers: torch, CuPy, ...) through the numpy API, in place.

Runs on the CPU with torch CPU tensors and the llvm target: results bit-exact against the
float32-order golden, the producer's type back, no copies, the numpy path's checks and
errors. The CUDA routing is checked with fake producers that report a CUDA device; the
real CUDA run is skipped without a GPU (``tools/device_check.sh`` runs it).
"""
from __future__ import annotations

import sys
import types

import ml_dtypes
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bce_grad import device_arrays  # noqa: E402
from bce_grad.api import binary_cross_entropy_backward as bce_backward  # noqa: E402
from bce_grad.host_backend import launch, platform, runtime_lib  # noqa: E402
from bce_grad.host_backend.errors import OpError, OpValueError  # noqa: E402
from bce_grad import kernel_cache  # noqa: E402
from testcases.reliability.cases import golden, make_call, same_bits  # noqa: E402

#: Sample calls: x's shape, grad_output's, weight's (None: no weight); all broadcast to x.
SAMPLES = {
    "same_shapes": dict(xshape=(4, 8), gshape=(4, 8), wshape=None),
    "broadcast_grad_and_weight": dict(xshape=(4, 8), gshape=(4, 1), wshape=(8,)),
    "rank3_weight": dict(xshape=(3, 5, 7), gshape=(1, 5, 1), wshape=(3, 1, 7)),
}
DTYPES = ("float32", "float16", "bfloat16")


def to_torch(array: np.ndarray):
    """A torch CPU tensor sharing ``array``'s memory (bfloat16 through an int16 view)."""
    if array.dtype == ml_dtypes.bfloat16:
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)


def to_numpy(tensor) -> np.ndarray:
    """A torch CPU tensor's values as numpy (bfloat16 as ``ml_dtypes.bfloat16``)."""
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return tensor.numpy()


class DLPackOnly:
    """A numpy-free DLPack producer: only ``__dlpack__`` and ``__dlpack_device__``.

    ``device`` is what it reports; its data is the wrapped numpy array's (host memory),
    so a reported CUDA device fakes the routing without a GPU.
    """

    def __init__(self, array: np.ndarray, device: tuple[int, int] = (1, 0)) -> None:
        self._array = array
        self._device = device

    def __dlpack__(self, **kwargs):
        return self._array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._device


@pytest.fixture
def launched(monkeypatch):
    """The data pointers of the tensors each device launch receives (inputs, then output)."""
    calls: list[list[int]] = []
    real = launch.Kernel.launch_tensors

    def spy(self, tensors, scalars=None, stream=None):
        calls.append([t.data_ptr() for t in tensors])
        return real(self, tensors, scalars, stream)

    monkeypatch.setattr(launch.Kernel, "launch_tensors", spy)
    return calls


@pytest.fixture
def targets_built(monkeypatch):
    """The backend target in force each time the API asks the cache for a kernel."""
    seen: list[str] = []
    real = kernel_cache.get_kernel

    def spy(*args, **kwargs):
        seen.append(platform.backend_target())
        return real(*args, **kwargs)

    monkeypatch.setattr(kernel_cache, "get_kernel", spy)
    return seen


@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("sample", sorted(SAMPLES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_cpu_tensors_match_the_golden_bit_for_bit(dtype, sample, reduction):
    x, y, g, w = make_call(60, dtype, **SAMPLES[sample])
    got = bce_backward(to_torch(g), to_torch(x), to_torch(y),
                       None if w is None else to_torch(w), reduction)
    assert isinstance(got, torch.Tensor) and got.device.type == "cpu"
    assert same_bits(to_numpy(got), golden(x, y, g, w, reduction, dtype))


#: Calls whose device form must equal the numpy path's result bit for bit.
NUMPY_PARITY = {
    "python_scalars": lambda a: dict(grad_output=0.5, x=a["x"], y=a["y"], weight=2, reduction="sum"),
    "out_dtype": lambda a: dict(grad_output=a["g"], x=a["x"], y=a["y"], out_dtype="float16"),
    "enum_reduction": lambda a: dict(grad_output=a["g"], x=a["x"], y=a["y"], reduction=1),
    "zero_d_grad": lambda a: dict(grad_output=np.array(0.5, np.float32), x=a["x"], y=a["y"],
                                  weight=a["g"], reduction="sum"),
    "mixed_dtypes": lambda a: dict(grad_output=a["g"], x=a["x"].astype(np.float16),
                                   y=a["y"].astype(ml_dtypes.bfloat16)),
}


@pytest.mark.parametrize("case", sorted(NUMPY_PARITY))
def test_device_calls_give_the_numpy_paths_result(case):
    x, y, g, _ = make_call(61, "float32", gshape=(4, 1))
    call = NUMPY_PARITY[case]({"x": x, "y": y, "g": g})
    want = bce_backward(**call)
    got = bce_backward(**{k: to_torch(v) if isinstance(v, np.ndarray) else v
                          for k, v in call.items()})
    assert isinstance(got, torch.Tensor) and same_bits(to_numpy(got), want)


def test_inputs_are_read_in_place_and_the_result_is_the_kernels_output(launched):
    x, y, g, w = make_call(62, "float32", xshape=(6, 8), gshape=(8,), wshape=(6, 1))
    base = to_torch(np.concatenate([x, x]))
    tx = base[6:]  # a contiguous view at an offset: its own address, not the storage's
    ty, tg, tw = to_torch(y), to_torch(g), to_torch(w)
    got = bce_backward(tg, tx, ty, tw, "mean")
    assert launched == [[tx.data_ptr(), ty.data_ptr(), tg.data_ptr(), tw.data_ptr(),
                         got.data_ptr()]]
    tx.copy_(to_torch(y))  # written through the caller's tensor: the next call reads it
    again = bce_backward(tg, base[6:], ty, tw, "mean")
    assert same_bits(to_numpy(again), golden(y, y, g, w, "mean", "float32"))


@pytest.mark.parametrize("dtype", DTYPES)
def test_out_tensor_is_written_in_place_and_returned(dtype, launched):
    x, y, g, _ = make_call(63, dtype, gshape=(4, 1))
    out = torch.full(x.shape, 7.0, dtype=to_torch(x).dtype)
    address = out.data_ptr()
    returned = bce_backward(to_torch(g), to_torch(x), to_torch(y), reduction="none", out=out)
    assert returned is out and out.data_ptr() == address
    assert launched[0][-1] == address
    assert same_bits(to_numpy(out), golden(x, y, g, None, "none", dtype))


def test_numpy_inputs_and_out_on_a_cpu_call_are_used_in_place(monkeypatch):
    x, y, g, _ = make_call(64, "float32", gshape=(1, 8))
    seen: list[int] = []
    real = launch._from_dlpack
    monkeypatch.setattr(launch, "_from_dlpack",
                        lambda a: seen.append(a.__array_interface__["data"][0]) or real(a))
    out = np.empty_like(x)
    assert bce_backward(g, to_torch(x), y, reduction="sum", out=out) is out
    assert {a.__array_interface__["data"][0] for a in (y, g, out)} <= set(seen)
    assert same_bits(out, golden(x, y, g, None, "sum", "float32"))


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_a_numpy_free_producer_works_and_gets_a_dlpack_tensor_back(dtype):
    x, y, g, w = make_call(65, dtype, gshape=(4, 1), wshape=(8,))
    got = bce_backward(DLPackOnly(g), DLPackOnly(x), DLPackOnly(y), DLPackOnly(w), "mean")
    assert not isinstance(got, (np.ndarray, torch.Tensor))  # its module has no from_dlpack
    assert same_bits(np.from_dlpack(got), golden(x, y, g, w, "mean", dtype))


def test_a_producer_whose_module_has_from_dlpack_gets_its_own_type_back(monkeypatch):
    module = types.ModuleType("fake_arrays")
    module.from_dlpack = lambda tensor: ("fake", np.from_dlpack(tensor))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    producer = type("FakeArray", (DLPackOnly,), {"__module__": module.__name__})
    x, y, g, _ = make_call(75, "float32", gshape=(4, 1))
    kind, got = bce_backward(producer(g), producer(x), y, reduction="none")
    assert kind == "fake" and same_bits(got, golden(x, y, g, None, "none", "float32"))


def test_empty_x_gives_an_empty_tensor():
    x = torch.empty((0, 8))
    got = bce_backward(torch.ones(1), x, torch.empty((0, 8)))
    assert isinstance(got, torch.Tensor) and tuple(got.shape) == (0, 8)


def test_the_device_decides_the_target(targets_built):
    x, y, g, _ = make_call(66, "float32")
    with platform.use_backend_target("cuda"):  # CPU tensors still run on the CPU, in place
        got = bce_backward(to_torch(g), to_torch(x), to_torch(y))
    assert targets_built == ["llvm"]
    assert same_bits(to_numpy(got), golden(x, y, g, None, "mean", "float32"))


def _cuda_fake(array: np.ndarray) -> DLPackOnly:
    return DLPackOnly(array, device=(2, 0))


def test_a_cuda_device_routes_to_the_cuda_target(monkeypatch, targets_built):
    monkeypatch.setattr(runtime_lib, "cuda_device_count", lambda: 1)
    x, y, g, _ = make_call(67, "float32")
    assert device_arrays.placement({"x": _cuda_fake(x), "y": y}).target == "cuda"

    def stop(*args, **kwargs):
        raise RuntimeError("routed")

    monkeypatch.setattr(kernel_cache, "_load", stop)  # no CUDA kernel is built or run here
    monkeypatch.setattr(kernel_cache, "_compile", stop)
    with pytest.raises(RuntimeError, match="routed"):
        bce_backward(_cuda_fake(g), _cuda_fake(x), _cuda_fake(y))
    assert targets_built == ["cuda"]


def test_a_cuda_device_without_a_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(runtime_lib, "cuda_device_count", lambda: 0)
    x, y, g, _ = make_call(68, "float32")
    with pytest.raises(OpValueError, match=r"parameter\[x\] is on \[cuda:0\], which needs the "
                       r"cuda target, but this machine has 0 usable CUDA device") as err:
        bce_backward(g, _cuda_fake(x), y)
    assert err.value.code == "E80000"


def _errors(x, y, g):
    """Device-path refusals: (call, exception type, text the message holds)."""
    tx, ty, tg = to_torch(x), to_torch(y), to_torch(g)
    return {
        "device_mismatch": (dict(grad_output=tg, x=tx, y=_cuda_fake(y)), ValueError,
                            r"parameter\[y\] should be on the device of parameter\[x\] \(cpu:0\)"
                            r".*actually is on \[cuda:0\]"),
        "unknown_device": (dict(grad_output=g, x=DLPackOnly(x, (10, 0)), y=y), ValueError,
                           r"parameter\[x\] should be on the CPU or a CUDA device"),
        "transposed_x": (dict(grad_output=tg, x=to_torch(np.ascontiguousarray(x.T)).T, y=ty),
                         ValueError, r"parameter\[x\] should be C-contiguous.*strides"),
        "expanded_y": (dict(grad_output=tg, x=tx, y=ty[:1].expand(*x.shape)), ValueError,
                       r"parameter\[y\] should be C-contiguous"),
        "export_fails": (dict(grad_output=tg, x=tx, y=DLPackOnly(y.astype(ml_dtypes.bfloat16))),
                         ValueError, r"parameter\[y\] should be a DLPack array that can be read "
                         r"in place, but exporting it failed: \[DLPack only supports"),
        "out_shape": (dict(grad_output=tg, x=tx, y=ty, out=torch.empty(8, 4)), ValueError,
                      r"parameter\[out\].*shape \[8, 4\] should be x's shape \[4, 8\]"),
        "out_dtype": (dict(grad_output=tg, x=tx, y=ty, out=torch.empty(4, 8, dtype=torch.float16)),
                      ValueError, r"parameter\[out\].*dtype float16 should be the result dtype"),
        "out_layout": (dict(grad_output=tg, x=tx, y=ty, out=torch.empty(8, 4).T), ValueError,
                       r"parameter\[out\] should be C-contiguous"),
        "out_aliases_x": (dict(grad_output=tg, x=tx, y=ty, out=tx), ValueError,
                          r"parameter\[out\].*should not overlap the input\(s\) \['x'\]"),
        "out_other_device": (dict(grad_output=tg, x=tx, y=ty, out=_cuda_fake(x)), ValueError,
                             r"parameter\[out\] should be on the device of parameter\[x\]"),
        "out_list": (dict(grad_output=tg, x=tx, y=ty, out=[[0.0] * 8] * 4), TypeError,
                     r"parameter\[out\] should be a numpy.ndarray, a DLPack array"),
    }


@pytest.mark.parametrize("case", ["device_mismatch", "unknown_device", "transposed_x",
                                  "expanded_y", "export_fails", "out_shape", "out_dtype",
                                  "out_layout", "out_aliases_x", "out_other_device", "out_list"])
def test_device_path_refusals_name_the_parameter_rule_and_value(case):
    x, y, g, _ = make_call(69, "float32")
    call, kind, text = _errors(x, y, g)[case]
    with pytest.raises(kind, match=text) as err:
        bce_backward(**call)
    assert isinstance(err.value, OpError) and err.value.code.startswith("E8")


def test_a_numpy_out_on_a_cuda_call_is_refused(monkeypatch):
    monkeypatch.setattr(runtime_lib, "cuda_device_count", lambda: 1)
    x, y, g, _ = make_call(70, "float32")
    with pytest.raises(ValueError, match=r"parameter\[out\] should be on the inputs' device "
                       r"\(cuda:0\).*numpy.ndarray"):
        bce_backward(g, _cuda_fake(x), y, out=np.empty_like(x))


#: The numpy path's errors, which the device path must repeat word for word.
SHARED_ERRORS = {
    "float64_x": lambda a: dict(grad_output=a["g"], x=a["x"].astype(np.float64), y=a["y"]),
    "y_does_not_broadcast": lambda a: dict(grad_output=a["g"], x=a["x"], y=a["y"][:, :3].copy()),
    "grad_rank_too_high": lambda a: dict(grad_output=a["g"].reshape(1, 4, 8), x=a["x"], y=a["y"]),
    "bad_reduction": lambda a: dict(grad_output=a["g"], x=a["x"], y=a["y"], reduction="avg"),
    "scalar_overflow": lambda a: dict(grad_output=2**1024, x=a["x"].astype(np.float16),
                                      y=a["y"].astype(np.float16)),
}


@pytest.mark.parametrize("case", sorted(SHARED_ERRORS))
def test_device_path_errors_are_the_numpy_paths(case):
    x, y, g, _ = make_call(71, "float32")
    call = SHARED_ERRORS[case]({"x": x, "y": y, "g": g})
    with pytest.raises(OpError) as numpy_err:
        bce_backward(**call)
    with pytest.raises(OpError) as device_err:
        bce_backward(**{k: to_torch(v) if isinstance(v, np.ndarray) else v
                        for k, v in call.items()})
    assert type(device_err.value) is type(numpy_err.value)
    assert str(device_err.value) == str(numpy_err.value)


def test_launch_tensors_runs_a_cpu_kernel_in_place_on_a_given_stream():
    x, y, g, _ = make_call(72, "bfloat16", gshape=(4, 1))
    arrays = {"x": x, "y": y, "grad_output": g}
    with platform.use_soc(platform.default_soc()) as info, platform.use_backend_target("llvm"):
        kernel, _ = kernel_cache.get_kernel(arrays, "bfloat16", "sum", info)
    out = np.empty_like(x)
    tensors = [launch.host_tensor(a, "bfloat16") for a in (x, y, g, out)]
    kernel.launch_tensors(tensors, {}, stream=0)
    assert same_bits(out, golden(x, y, g, None, "sum", "bfloat16"))


def test_the_copying_launch_copies_to_a_device_and_back():
    """``Kernel._run_cuda``'s copies, run on the CPU device with an llvm kernel."""
    import tvm_ffi

    x, y, g, _ = make_call(73, "bfloat16")
    arrays = {"x": x, "y": y, "grad_output": g}
    with platform.use_soc(platform.default_soc()) as info, platform.use_backend_target("llvm"):
        kernel, _ = kernel_cache.get_kernel(arrays, "bfloat16", "none", info)
    out = np.zeros_like(x)
    case, bound = kernel.bind([x, y, g, out])
    kernel._run_cuda(kernel.module[case["function"]], case, bound, [], tvm_ffi.device("cpu", 0))
    assert same_bits(out, golden(x, y, g, None, "none", "bfloat16"))


@pytest.mark.cuda
@pytest.mark.skipif(runtime_lib.cuda_device_count() == 0 or not torch.cuda.is_available(),
                    reason="needs an NVIDIA GPU that torch sees (no CUDA device here)")
@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_cuda_tensors_run_in_place_on_the_gpu(dtype, launched):
    x, y, g, w = make_call(74, dtype, gshape=(4, 1), wshape=(8,))
    t = {n: to_torch(a).cuda() for n, a in {"x": x, "y": y, "g": g, "w": w}.items()}
    got = bce_backward(t["g"], t["x"], t["y"], t["w"], "mean")
    assert got.device.type == "cuda" and launched[0][:4] == [t[n].data_ptr() for n in "xygw"]
    assert same_bits(to_numpy(got.cpu()), golden(x, y, g, w, "mean", dtype))
    out = torch.empty_like(t["x"])
    assert bce_backward(t["g"], t["x"], t["y"], t["w"], "mean", out=out) is out
    assert same_bits(to_numpy(out.cpu()), golden(x, y, g, w, "mean", dtype))
