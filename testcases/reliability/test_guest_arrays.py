"""What every entry reads and writes: read-only and byte-swapped arrays (issue 24, item 5).

Entries: the numpy API, :meth:`bce_grad.runtime.Runtime.backward`, the device-array path (a
DLPack producer that is not numpy, with numpy arguments beside it) and ``bce-grad run``. A
read-only ``out`` (``np.frombuffer`` of ``bytes``, ``flags.writeable = False``, ``np.load``
with ``mmap_mode="r"``) and a byte-swapped one are refused with E80000 naming ``out`` and
left as they were; byte-swapped inputs give the native-order result, bit for bit. Inputs have
65,792 elements: above the runtime's serial threshold (2**16), so the parallel launch runs.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from bce_grad.api import binary_cross_entropy_backward as bce_backward
from bce_grad.host_backend.errors import OpValueError
from bce_grad.tools.cli import main
from testcases.runtime.conftest import runtime_library  # noqa: F401 - a fixture used below

from .cases import make_call, same_bits
from .conftest import run_python

SHAPE = (256, 257)
SWAPPED = np.dtype(np.float32).newbyteorder("S")  # >f4 on a little-endian host
ENTRIES = ("api", "runtime", "device")


class Producer:
    """A DLPack producer that is not numpy (as torch or CuPy on the CPU): the device-array path."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __dlpack__(self, **kwargs):
        return self.array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return (1, 0)


@pytest.fixture(scope="module")
def guest_package(tmp_path_factory) -> str:
    """A package with the float32 same-shape kernels, with and without weight."""
    from bce_grad.runtime.kernel_set import KernelSpec, build_package

    out = tmp_path_factory.mktemp("guest_pkg")
    specs = [KernelSpec(("float32",) * 4, "float32", "mean", "d_d_d_d"),
             KernelSpec(("float32",) * 3, "float32", "mean", "d_d_d")]
    build_package(out, "Ascend910B1", specs, jobs=1, log=lambda line: None)
    return str(out)


@pytest.fixture
def entry(request, guest_package, runtime_library):  # noqa: F811 - the imported fixture
    """``f(g, x, y, w, out=None)`` through the entry named by the test's parameter."""
    name = request.param
    if name == "api":
        return lambda g, x, y, w, out=None: bce_backward(g, x, y, w, "mean", out=out)
    if name == "device":  # a numpy out beside a CPU producer: the call returns it as it is
        return lambda g, x, y, w, out=None: bce_backward(
            g, Producer(x), y, w, "mean", out=np.empty(x.shape, np.float32) if out is None else out)
    from bce_grad.runtime import Runtime

    runtime = Runtime(guest_package, library=runtime_library)
    request.addfinalizer(runtime.close)
    return lambda g, x, y, w, out=None: runtime.backward(g, x, y, w, "mean", out=out)


def _inputs(seed: int = 3):
    return make_call(seed, "float32", gshape=SHAPE, wshape=SHAPE, xshape=SHAPE)


def _assert_refused_out(call, out, *words: str) -> None:
    with pytest.raises(OpValueError) as caught:
        call(out)
    err = caught.value
    assert (err.code, err.param_name) == ("E80000", "out"), str(err)
    assert "the parameter[out] is unusable" in str(err)
    for word in words:
        assert word in str(err)


# ---- read-only out ---------------------------------------------------------------------------
@pytest.mark.parametrize("entry", ENTRIES, indirect=True)
@pytest.mark.parametrize("kind", ["frombuffer", "flag"])
def test_read_only_out_is_refused_and_left_alone(entry, kind):
    x, y, g, w = _inputs()
    if kind == "frombuffer":
        immutable = bytes(x.nbytes)  # a bytes object: nothing may change it
        out = np.frombuffer(immutable, np.float32).reshape(SHAPE)
    else:
        out = np.full(SHAPE, 7.0, np.float32)
        out.flags.writeable = False
    before = out.tobytes()
    _assert_refused_out(lambda o: entry(g, x, y, w, out=o), out, "read-only")
    assert out.tobytes() == before
    if kind == "frombuffer":
        assert immutable == bytes(x.nbytes)


_MMAP_CALL = """
import sys
import numpy as np
from bce_grad.host_backend.errors import OpValueError
from testcases.reliability.test_guest_arrays import Producer, _inputs
entry, path, package, library = sys.argv[1:]
x, y, g, w = _inputs()
out = np.load(path, mmap_mode="r")
if entry == "runtime":
    from bce_grad.runtime import Runtime
    call = Runtime(package, library=library).backward
elif entry == "device":
    from bce_grad import binary_cross_entropy_backward
    call = lambda g, x, *rest, **kw: binary_cross_entropy_backward(g, Producer(x), *rest, **kw)
else:
    from bce_grad import binary_cross_entropy_backward as call
try:
    call(g, x, y, w, "mean", out=out)
except OpValueError as err:
    print(err.code, err.param_name, "read-only" in str(err))
else:
    print("written")
"""


@pytest.mark.parametrize("name", ENTRIES)
def test_mapped_read_only_out_is_refused_without_a_crash(name, guest_package, runtime_library,  # noqa: F811
                                                         tmp_path):
    """``np.load(mmap_mode="r")`` as ``out``: a write would be SIGSEGV, so a child process runs it."""
    path = tmp_path / "out.npy"
    np.save(path, np.full(SHAPE, 7.0, np.float32))
    before = path.read_bytes()
    argv = [name, str(path), guest_package, runtime_library]
    done = run_python(f"import sys; sys.argv[1:] = {json.dumps(argv)}\n{_MMAP_CALL}",
                      cwd=os.getcwd())
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert done.stdout.split() == ["E80000", "out", "True"], done.stdout + done.stderr[-2000:]
    assert path.read_bytes() == before


# ---- byte order ------------------------------------------------------------------------------
@pytest.mark.parametrize("entry", ENTRIES, indirect=True)
def test_byte_swapped_inputs_give_the_native_result(entry):
    x, y, g, w = _inputs()
    expected = entry(g, x, y, w)
    swapped = [a.astype(SWAPPED) for a in (g, y, w)]  # x stays native: the device path's producer
    assert all(not a.dtype.isnative for a in swapped)
    got = entry(swapped[0], x, swapped[1], swapped[2])
    assert got.dtype == np.float32 and got.dtype.isnative
    assert same_bits(got, expected)


@pytest.mark.parametrize("entry", ["api", "runtime"], indirect=True)
def test_byte_swapped_x_gives_the_native_result(entry):
    x, y, g, w = _inputs(5)
    expected = entry(g, x, y, w)
    got = entry(g.astype(SWAPPED), x.astype(SWAPPED), y.astype(SWAPPED), w.astype(SWAPPED))
    assert got.dtype.isnative and same_bits(got, expected)
    got = entry(g.astype(SWAPPED), x.astype(SWAPPED), y.astype(SWAPPED), None)
    assert got.dtype.isnative and same_bits(got, entry(g, x, y, None))


@pytest.mark.parametrize("entry", ENTRIES, indirect=True)
def test_byte_swapped_out_is_refused_and_left_alone(entry):
    x, y, g, w = _inputs()
    out = np.full(SHAPE, 7.0, SWAPPED)
    _assert_refused_out(lambda o: entry(g, x, y, w, out=o), out, "byte order")
    assert np.all(out == 7.0)


def test_runtime_out_dtype_spelt_byte_swapped_gives_native_numbers(guest_package,
                                                                   runtime_library):  # noqa: F811
    from bce_grad.runtime import Runtime

    x, y, g, w = _inputs()
    with Runtime(guest_package, library=runtime_library) as runtime:
        got = runtime.backward(g, x, y, w, "mean", out_dtype=SWAPPED.str)
        assert got.dtype.isnative and same_bits(got, runtime.backward(g, x, y, w, "mean"))


def test_cli_reads_byte_swapped_npy_files(tmp_path):
    x, y, g, w = _inputs()
    args = ["run", "--reduction", "mean"]
    for flag, array in (("--x", x), ("--y", y), ("--grad-output", g), ("--weight", w)):
        path = tmp_path / f"{flag[2:]}.npy"
        np.save(path, array.astype(SWAPPED))  # .npy keeps the byte order
        assert not np.load(path).dtype.isnative
        args += [flag, str(path)]
    assert main(args + ["--out", str(tmp_path / "dx.npy")]) == 0
    got = np.load(tmp_path / "dx.npy")
    assert same_bits(got, bce_backward(g, x, y, w, "mean"))
