"""auto_schedule makes real schedules; build writes kernel_meta atomically; launch binds dims."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from tvm import te

from bce_grad.host_backend import dsl as tbe
from bce_grad.host_backend import tvm_shim as tvm
from bce_grad.host_backend.build import check_kernel_name, kernel_meta_at
from bce_grad.host_backend.errors import OpError
from bce_grad.host_backend.launch import Kernel
from bce_grad.host_backend.platform import use_backend_target, use_soc
from bce_grad.host_backend.schedule import auto_schedule


def _bce_like(n, m):
    x = tvm.placeholder((n, m), dtype="float16", name="x")
    g = tvm.placeholder((1, m), dtype="float16", name="g")
    xf = tbe.cast_to(x, "float32")
    gf = tbe.broadcast(tbe.cast_to(g, "float32"), [n, m])
    den = tbe.vmaxs(tbe.vmul(xf, tbe.vadds(tbe.vmuls(xf, -1.0), 1.0)), 1e-12)
    res = tbe.cast_to(tbe.vmul(gf, tbe.vdiv(xf, den)), "float16")
    return x, g, res


def test_cpu_schedule_inlines_parallelises_and_vectorises():
    n, m = te.var("n", "int64"), te.var("m", "int64")
    x, g, res = _bce_like(n, m)
    sch = auto_schedule(res)
    script = sch.apply([x, g, res], "k").script()
    assert sch.rule == "Elementwise"
    blocks = {line.strip() for line in script.splitlines() if line.strip().startswith("with T.sblock(")}
    # the flat walk of short rows (schedule.short_rows) is the same block over tiles of rows
    assert len({b for b in blocks if "_flat" not in b}) == 1, \
        "every producer should be inlined: one pass over memory"
    assert "T.parallel(" in script and "T.vectorized(" in script


def test_cuda_schedule_binds_threads():
    n = te.var("n", "int64")
    with use_backend_target("cuda"):  # compute too: its products lower per target
        x, g, res = _bce_like(n, 256)
        sch = auto_schedule(res)
    script = sch.apply([x, g, res], "k").script()
    assert 'T.thread_binding' in script and "blockIdx.x" in script and "threadIdx.x" in script


@pytest.mark.cuda
@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed: CUDA is not compiled")
def test_cuda_kernel_compiles_with_nvcc(tmp_path):
    n = te.var("n", "int64")
    with use_backend_target("cuda"):  # compute too: its products lower per target
        x, g, res = _bce_like(n, 256)
        sch = auto_schedule(res)
    with kernel_meta_at(tmp_path):
        path = tbe.build(sch, {"name": "cuda_k", "tensor_list": [x, g, res]})
    meta = json.loads(path.read_text())
    assert meta["target"]["kind"] == "cuda"
    assert (tmp_path / "cuda_k.so").stat().st_size > 0


def test_build_writes_kernel_meta_and_runs_any_shape(tmp_path):
    n, m = te.var("n", "int64"), te.var("m", "int64")
    with use_soc("Ascend910_9391"):
        x, g, res = _bce_like(n, m)
        sch = auto_schedule(res)
        with kernel_meta_at(tmp_path):
            path = tbe.build(sch, {"name": "bce_like", "tensor_list": [x, g, res]})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bce_like.json", "bce_like.o", "bce_like.so"]
    meta = json.loads(path.read_text())
    assert meta["name"] == "bce_like" and meta["soc_version"] == "Ascend910_9391"
    assert meta["short_soc_version"] == "Ascend910_93"
    assert meta["target"]["kind"] == "llvm" and meta["target"]["mcpu"]
    assert len(meta["source_sha256"]) == 64
    tensors = meta["cases"][0]["tensors"]
    assert [t["name"] for t in tensors[:2]] == ["x", "g"] and tensors[2]["role"] == "output"
    assert tensors[0]["shape"] == ["n", "m"] and tensors[1]["shape"] == [1, "m"]
    kernel = Kernel(path)
    rng = np.random.default_rng(0)
    for shape in [(3, 5), (17, 64), (1, 1)]:
        xa = rng.uniform(0.1, 0.9, shape).astype(np.float16)
        ga = rng.uniform(0.5, 1.5, (1, shape[1])).astype(np.float16)
        out = np.empty(shape, np.float16)
        kernel([xa, ga, out])
        x32, g32 = xa.astype(np.float32), ga.astype(np.float32)
        want = (g32 * (x32 / np.maximum(x32 * (x32 * -1 + 1), np.float32(1e-12)))).astype(np.float16)
        assert np.array_equal(out, want)


def test_launch_refuses_wrong_dtype_and_shape(tmp_path):
    x, g, res = _bce_like(4, 8)
    with kernel_meta_at(tmp_path):
        kernel = Kernel(tbe.build(auto_schedule(res), {"name": "static_k", "tensor_list": [x, g, res]}))
    with pytest.raises(OpError, match="no case for tensor shapes"):
        kernel([np.zeros((4, 9), np.float16), np.zeros((1, 9), np.float16), np.zeros((4, 9), np.float16)])
    with pytest.raises(OpError, match="dtype float16"):
        kernel([np.zeros((4, 8), np.float32), np.zeros((1, 8), np.float16), np.zeros((4, 8), np.float16)])


@pytest.mark.parametrize("name", ["a/b", "../x", "has space", "dash-name", "", "x" * 201])
def test_bad_kernel_names_are_refused(name, tmp_path):
    with pytest.raises(OpError, match="kernel_name") as err:
        check_kernel_name(name)
    assert err.value.code == "E80000"
    x, g, res = _bce_like(2, 2)
    with kernel_meta_at(tmp_path), pytest.raises(OpError, match="kernel_name") as err:
        tbe.build(auto_schedule(res), {"name": name, "tensor_list": [x, g, res]})
    assert err.value.code == "E80000"
    assert list(tmp_path.iterdir()) == []


def test_longest_legal_kernel_name_builds(tmp_path):
    x, g, res = _bce_like(2, 2)
    with kernel_meta_at(tmp_path):
        tbe.build(auto_schedule(res), {"name": "k" * 200, "tensor_list": [x, g, res]})
    assert (tmp_path / ("k" * 200 + ".json")).exists()


def test_failed_build_leaves_no_partial_files(tmp_path, monkeypatch):
    x, g, res = _bce_like(2, 2)

    def crash(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("tvm.runtime.Executable.export_library", crash, raising=False)
    with kernel_meta_at(tmp_path), pytest.raises(OSError, match="disk full"):
        tbe.build(auto_schedule(res), {"name": "crashy", "tensor_list": [x, g, res]})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dtype, itemsize", [("float32", 4), ("float16", 2), ("bfloat16", 2)])
def test_cpu_kernels_assume_only_element_alignment(dtype, itemsize):
    """numpy arrays are element-aligned; a 64-byte alignment assumption lets LLVM emit
    aligned vector moves that fault on them (a segfault seen in CI before this)."""
    import re

    import tvm as apache_tvm

    from bce_grad.host_backend.targets import make_target

    n, m = te.var("n", "int64"), te.var("m", "int64")
    x = tvm.placeholder((n, m), dtype=dtype, name="x")
    g = tvm.placeholder((1, m), dtype=dtype, name="g")
    res = tbe.vmul(x, tbe.broadcast(g, [n, m]))
    mod = auto_schedule(res).apply([x, g, res], "k")
    llvm_ir = apache_tvm.compile(mod, target=make_target("llvm")).mod.inspect_source("ll")
    assumed = {int(a) for a in re.findall(r'"align"\(ptr %\w+, i64 (\d+)\)', llvm_ir)}
    assert assumed and assumed <= {itemsize}


def test_launch_refuses_a_non_contiguous_output(tmp_path):
    x, g, res = _bce_like(4, 8)
    with kernel_meta_at(tmp_path):
        kernel = Kernel(tbe.build(auto_schedule(res), {"name": "k_out", "tensor_list": [x, g, res]}))
    out = np.zeros((8, 4), np.float16).T
    with pytest.raises(OpError, match="C-contiguous"):
        kernel([np.zeros((4, 8), np.float16), np.zeros((1, 8), np.float16), out])


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_broadcast_kernels_keep_vector_instructions(dtype, rank):
    """LLVM IR of a broadcast pattern holds vector arithmetic, not a scalarised chunk."""
    import re

    import tvm as apache_tvm

    from bce_grad.host_backend.targets import make_target

    dims = [te.var(f"d{i}", "int64") for i in range(rank)]
    x = tvm.placeholder(dims, dtype=dtype, name="x")
    g = tvm.placeholder([1] * (rank - 1) + dims[-1:], dtype=dtype, name="g")
    res = tbe.vdiv(x, tbe.vadds(tbe.broadcast(g, dims), 1.0))
    mod = auto_schedule(res).apply([x, g, res], "k")
    llvm_ir = apache_tvm.compile(mod, target=make_target("llvm")).mod.inspect_source("ll")
    assert re.search(r"fdiv <\d+ x (float|half)>", llvm_ir), "the chunk was not vectorised"


def _operator_loop(dtype: str, mcpu: str, name: str, tmp_path, monkeypatch) -> list[str]:
    """The AVX2 vector loop of the operator for x (-1, -1), y alike, grad (-1, 1), no weight."""
    from bce_grad.host_backend import targets
    from impl.dynamic.binary_cross_entropy_grad import binary_cross_entropy_grad
    from testcases.backend.dsl_harness import capture_source
    from testcases.backend.test_bfloat16_store import _vector_loop

    if not targets.host_triple().startswith("x86_64"):
        pytest.skip("x86 assembly")
    monkeypatch.setenv("BCE_GRAD_MCPU", mcpu)  # compiled only: any x86 machine can build it
    captured = capture_source(monkeypatch, "asm")

    def desc(shape):
        return {"shape": shape, "range": [(1, 1) if d == 1 else (2, None) for d in shape],
                "dtype": dtype, "format": "ND"}

    x = desc([-1, -1])
    with kernel_meta_at(tmp_path):
        binary_cross_entropy_grad(x, dict(x), desc([-1, 1]), None, dict(x), "none", name)
    loop = _vector_loop(captured["asm"])
    assert loop, "no vectorised loop with vdivps on ymm"
    return loop


@pytest.mark.parametrize("mcpu", ["haswell", "znver3"])
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_few_rows_walk_chunks_without_a_division(dtype, mcpu, tmp_path, monkeypatch):
    """Fewer rows than ``MANY_ROWS`` (x (2, N) with grad (2, 1)): the vector loop holds no
    integer division (one per piece of a row finds the row, outside that loop)."""
    import re

    loop = _operator_loop(dtype, mcpu, "few_rows", tmp_path, monkeypatch)
    assert not re.search(r"\b(i?div[lq])\b", "\n".join(loop)), "an integer division per chunk"


@pytest.mark.parametrize("dtype, prefetched", [("float16", 2), ("float32", 0)])
def test_float16_chunks_prefetch_the_inputs_they_stream(dtype, prefetched, tmp_path, monkeypatch):
    """A float16 chunk prefetches each input it reads along the row (x, y: two), not the
    broadcast column (grad (N, 1)) nor the output; float32 chunks keep up without it."""
    loop = _operator_loop(dtype, "haswell", "ahead", tmp_path, monkeypatch)
    assert sum(line.startswith("prefetch") for line in loop) == prefetched, loop


def test_cuda_products_are_never_contracted():
    """nvcc contracts a * b + c into an FMA by default; products go through __fmul_rn."""
    from bce_grad.host_backend.targets import make_target

    with use_backend_target("cuda"):
        x, g, res = _bce_like(te.var("n", "int64"), 256)
        mod = auto_schedule(res).apply([x, g, res], "k")
    script = mod.script()
    assert "__fmul_rn" in script and "arithmetic.fence" not in script
    assert make_target("cuda").kind.name == "cuda"


@pytest.mark.parametrize("rows", [1, 3, 70])
def test_int64_dynamic_outer_dim_with_int32_static_inner_dim(rows, tmp_path):
    """x (n: int64 var, 16: int32 const) with y (1, 16): the loops take the widest index type
    and each block binding is cast back to its iter var's type (used to fail to build with
    "Loop variable's dtype (int32) is narrower than ... (int64)")."""
    from testcases.backend.dsl_harness import build_and_run

    n = te.var("n", "int64")
    rng = np.random.default_rng(rows)
    x = rng.uniform(0.1, 0.9, (rows, 16)).astype(np.float32)
    y = rng.uniform(0.1, 0.9, (1, 16)).astype(np.float32)

    def compute(a, b):
        return tbe.vsub(a, tbe.broadcast(b, a.shape))

    out, _ = build_and_run(compute, [x, y], ["float32", "float32"], [(n, 16), (1, 16)],
                           (rows, 16), np.float32, tmp_path)
    assert np.array_equal(out, x - y)
