"""The API's inputs: read-only memory without copies, out=, Python scalars, dtype spellings."""
from __future__ import annotations

import inspect

import ml_dtypes
import numpy as np
import pytest

from bce_grad.api import binary_cross_entropy_backward as bce_backward
from bce_grad.host_backend import launch
from bce_grad.host_backend.errors import OpError

from .cases import golden, make_call, same_bits


@pytest.fixture
def wrapped_pointers(monkeypatch):
    """Data addresses of the arrays the kernel receives."""
    seen: list[int] = []
    real = launch._from_dlpack

    def spy(array):
        seen.append(array.__array_interface__["data"][0])
        return real(array)

    monkeypatch.setattr(launch, "_from_dlpack", spy)
    from bce_grad.runtime import native  # the native runtime's launch: DLTensors over the arrays

    real_pointer = native._tensor_pointer

    def spy_pointer(array, held):
        seen.append(array.__array_interface__["data"][0])
        return real_pointer(array, held)

    monkeypatch.setattr(native, "_tensor_pointer", spy_pointer)
    return seen


def _readonly(kind: str, array: np.ndarray, tmp_path) -> np.ndarray:
    if kind == "flag":
        view = array.copy()
        view.flags.writeable = False
        return view
    if kind == "mmap":
        path = tmp_path / "a.npy"
        np.save(path, array.view(np.uint16) if array.dtype == ml_dtypes.bfloat16 else array)
        return np.load(path, mmap_mode="r").view(array.dtype)  # .npy has no bfloat16
    return np.frombuffer(array.tobytes(), dtype=array.dtype).reshape(array.shape)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("kind", ["flag", "mmap", "frombuffer"])
def test_read_only_inputs_are_read_in_place(kind, dtype, tmp_path, wrapped_pointers):
    x, y, g, w = make_call(40, dtype, gshape=(8,), wshape=(4, 1))
    ro = {name: _readonly(kind, a, tmp_path / name) for name, a in
          {"x": x, "y": y, "g": g, "w": w}.items() if (tmp_path / name).mkdir() is None}
    assert not any(a.flags.writeable for a in ro.values())
    out = bce_backward(ro["g"], ro["x"], ro["y"], ro["w"], "sum")
    assert same_bits(out, golden(x, y, g, w, "sum", dtype))
    addresses = {a.__array_interface__["data"][0] for a in ro.values()}
    assert addresses <= set(wrapped_pointers), "a read-only input was copied"


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_out_receives_the_result(dtype):
    x, y, g, _ = make_call(41, dtype, gshape=(4, 1))
    out = np.full(x.shape, 7, dtype=x.dtype)
    returned = bce_backward(g, x, y, reduction="mean", out=out)
    assert returned is out
    assert same_bits(out, golden(x, y, g, None, "mean", dtype))


def test_out_with_out_dtype():
    x, y, g, _ = make_call(42, "float32")
    out = np.empty(x.shape, np.float16)
    assert bce_backward(g, x, y, out_dtype="float16", out=out) is out
    assert same_bits(out, golden(x, y, g, None, "mean", "float16"))


def _bad_outs(x):
    fortran = np.asfortranarray(np.empty((8, 4), x.dtype).T)  # x's shape, not C-contiguous
    ro = np.empty_like(x)
    ro.flags.writeable = False
    return {
        "shape": (np.empty((8, 4), x.dtype), ValueError, "shape"),
        "dtype": (np.empty(x.shape, np.float16), ValueError, "dtype"),
        "layout": (fortran, ValueError, "C-contiguous"),
        "read_only": (ro, ValueError, "writeable"),
        "aliases_x": (x, ValueError, "overlap"),
        "list": ([[0.0] * 8] * 4, TypeError, "numpy.ndarray"),
    }


@pytest.mark.parametrize("case", ["shape", "dtype", "layout", "read_only", "aliases_x", "list"])
def test_a_bad_out_is_refused_naming_out(case):
    x, y, g, _ = make_call(43, "float32")
    bad, kind, text = _bad_outs(x)[case]
    with pytest.raises(kind, match=text) as err:
        bce_backward(g, x, y, out=bad)
    assert isinstance(err.value, OpError) and "parameter[out]" in str(err.value)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("grad, weight", [(0.5, None), (2, 3), (-1.25, 0.5), (1, None)])
def test_python_scalars_are_zero_d_arrays_of_the_promoted_dtype(dtype, grad, weight):
    x, y, _, _ = make_call(44, dtype)
    cast = np.dtype(x.dtype).type
    out = bce_backward(grad, x, y, weight, "none")
    expected = golden(x, y, np.array(grad, dtype=cast),
                      None if weight is None else np.array(weight, dtype=cast), "none", dtype)
    assert same_bits(out, expected)


@pytest.mark.parametrize("value", [True, np.bool_(False)])
def test_bool_scalars_are_type_errors(value):
    x, y, _, _ = make_call(45, "float32")
    with pytest.raises(TypeError, match="grad_output"):
        bce_backward(value, x, y)


@pytest.mark.parametrize("spelling", ["float16", np.float16, np.dtype("float16")])
def test_out_dtype_accepts_names_and_numpy_dtypes(spelling):
    x, y, g, _ = make_call(46, "float32")
    out = bce_backward(g, x, y, out_dtype=spelling)
    assert same_bits(out, golden(x, y, g, None, "mean", "float16"))


def test_out_dtype_accepts_ml_dtypes_bfloat16():
    x, y, g, _ = make_call(47, "float32")
    out = bce_backward(g, x, y, out_dtype=ml_dtypes.bfloat16)
    assert same_bits(out, golden(x, y, g, None, "mean", "bfloat16"))


@pytest.mark.parametrize("kwargs, kind, name", [
    (dict(out_dtype=""), ValueError, "out_dtype"),
    (dict(out_dtype="float64"), ValueError, "out_dtype"),
    (dict(out_dtype=np.float64), ValueError, "out_dtype"),
    (dict(out_dtype=0), TypeError, "out_dtype"),
    (dict(soc=""), ValueError, "soc"),
    (dict(soc=910), TypeError, "soc"),
    (dict(soc="Ascend123"), ValueError, "Ascend123"),
    (dict(reduction=1.5), TypeError, "reduction"),
    (dict(reduction="avg"), ValueError, "reduction"),
    (dict(y=np.ones((2, 4), np.float32)), ValueError, "y"),
    (dict(x=None), TypeError, "x"),
])
def test_errors_are_runtime_errors_and_value_or_type_errors(kwargs, kind, name):
    x, y, g, _ = make_call(48, "float32")
    call = dict(grad_output=g, x=x, y=y)
    call.update(kwargs)
    with pytest.raises(kind) as err:
        bce_backward(**call)
    assert isinstance(err.value, RuntimeError) and isinstance(err.value, OpError)
    assert name in str(err.value)


def test_soc_and_out_dtype_are_keyword_only():
    kinds = {name: p.kind for name, p in inspect.signature(bce_backward).parameters.items()}
    assert all(kinds[name] == inspect.Parameter.KEYWORD_ONLY for name in ("soc", "out_dtype", "out"))
    x, y, g, _ = make_call(49, "float32")
    with pytest.raises(TypeError, match="positional argument"):
        bce_backward(g, x, y, None, "mean", "Ascend910B1")  # noqa - positional soc
