"""Per-call state: threads compiling at once share no SoC, compile context or output directory."""
from __future__ import annotations

import json
import os
import threading

import numpy as np
import pytest

from bce_grad.api import binary_cross_entropy_backward as bce_backward
from bce_grad.host_backend import platform
from bce_grad.host_backend.build import kernel_meta_at

from .cases import golden, make_call, same_bits
from .conftest import run_python

#: (soc, dtype, reduction, grad shape, weight shape): mixed SoCs, dtypes, reductions, patterns.
STRESS = [
    ("Ascend910B1", "float32", "mean", (), None),
    ("Ascend910B1", "float32", "none", (8,), None),
    ("Ascend910A", "float16", "sum", (4, 1), (8,)),
    ("Ascend910_9391", "bfloat16", "mean", (8,), None),
    ("Ascend310P3", "float16", "mean", (1, 8), (4, 8)),
    ("Ascend910B1", "bfloat16", "none", (4, 8), (4, 1)),
    ("Ascend910A", "float32", "mean", (4, 8), ()),
    ("Ascend910B1", "float16", "sum", (), (1, 8)),
]


def _stress_calls():
    return [(soc, red, make_call(i, dtype, gshape, wshape), dtype)
            for i, (soc, dtype, red, gshape, wshape) in enumerate(STRESS)]


def test_threads_on_a_cold_cache_give_golden_results_and_a_sound_cache(fresh_cache, tmp_path,
                                                                       monkeypatch):
    meta_dir = tmp_path / "kernel_meta"  # its own: other test workers write the suite's
    monkeypatch.setenv("BCE_GRAD_KERNEL_META", str(meta_dir))
    calls = _stress_calls()
    barrier = threading.Barrier(len(calls))
    failures: list[str] = []

    def work(soc, reduction, inputs, dtype):
        x, y, g, w = inputs
        barrier.wait()
        try:
            for _ in range(3):
                out = bce_backward(g, x, y, w, reduction, soc=soc)
                if not same_bits(out, golden(x, y, g, w, reduction, dtype)):
                    failures.append(f"{soc} {dtype} {reduction}: wrong result")
        except Exception as err:  # noqa: BLE001 - reported below
            failures.append(f"{soc} {dtype} {reduction}: {err!r}")

    threads = [threading.Thread(target=work, args=call) for call in _stress_calls()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert not meta_dir.exists() or not any(meta_dir.iterdir()), \
        "kernels were written outside the cache"
    # the same calls in a fresh process: every kernel comes from the cache, sound
    code = (
        "import sys, warnings; warnings.simplefilter('error')\n"
        "from bce_grad.api import binary_cross_entropy_backward as f\n"
        "from testcases.reliability.test_concurrency import _stress_calls\n"
        "from testcases.reliability.cases import golden, same_bits\n"
        "for soc, red, (x, y, g, w), dt in _stress_calls():\n"
        "    assert same_bits(f(g, x, y, w, red, soc=soc), golden(x, y, g, w, red, dt)), (soc, dt)\n"
        "assert 'tvm' not in sys.modules, 'a kernel was compiled again'\n"
        "print('ok')\n")
    done = run_python(code, cwd=os.getcwd())
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-2000:]


def test_mean_and_none_compiling_at_once_keep_their_compile_info(fresh_cache):
    """The reported bug: a mean kernel written with empty compile_info, broken for good."""
    x, y, _, _ = make_call(1, "float32")
    row = np.ones(8, np.float32)
    barrier = threading.Barrier(2)
    results, errors = {}, []

    def call(name, grad, reduction):
        barrier.wait()
        try:
            results[name] = bce_backward(grad, x, y, None, reduction)
        except Exception as err:  # noqa: BLE001
            errors.append(repr(err))

    threads = [threading.Thread(target=call, args=("mean", 1.0, "mean")),
               threading.Thread(target=call, args=("none", row, "none"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert same_bits(results["mean"], golden(x, y, np.float32(1.0), None, "mean", "float32"))
    assert same_bits(results["none"], golden(x, y, row, None, "none", "float32"))
    built = list(fresh_cache.glob("bce_grad_*.json"))
    assert len(built) >= 2, built  # one kernel per reduction, or nothing was checked
    for path in built:
        meta = json.loads(path.read_text())
        has_cof = any(s["name"] == "cof" for c in meta["cases"] for s in c["scalars"])
        assert has_cof == ("reduce_mean_cof_dtype" in meta["compile_info"]), path.name


def test_a_soc_selected_in_one_thread_does_not_leak_into_another():
    default = platform.current_soc().soc_version
    inside, release = threading.Event(), threading.Event()
    seen = []

    def selector():
        with platform.use_soc("Ascend910A"):
            platform.set_current_compile_soc_info("Ascend310P3")
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=selector)
    thread.start()
    assert inside.wait(10)
    seen.append(platform.current_soc().soc_version)
    seen.append(platform.get_soc_spec(platform.SOC_VERSION))
    release.set()
    thread.join()
    assert seen == [default, default]


def test_an_api_call_with_soc_leaves_the_callers_soc_alone(fresh_cache):
    x, y, g, _ = make_call(2, "float16")
    with platform.use_soc("Ascend910B1"):
        bce_backward(g, x, y, soc="Ascend910A")
        assert platform.current_soc().soc_version == "Ascend910B1"


def test_bad_default_soc_is_a_clean_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv("BCE_GRAD_SOC", "Ascend000")
    with pytest.raises(ValueError, match="BCE_GRAD_SOC") as err:
        platform.current_soc()
    assert isinstance(err.value, RuntimeError)
    monkeypatch.setenv("BCE_GRAD_SOC", "Ascend910A")
    assert platform.default_soc() == "Ascend910A" == platform.current_soc().soc_version


def test_the_variable_and_the_soc_argument_take_every_spelling_of_the_cli(monkeypatch):
    """``BCE_GRAD_SOC`` and ``soc=`` read a SoC as ``--soc`` does: full, short or op info name,
    any case."""
    for spelling, full in (("ascend910a", "Ascend910A"), ("ASCEND910B1", "Ascend910B1"),
                           (" ascend910_93 ", "Ascend910_9391")):
        monkeypatch.setenv("BCE_GRAD_SOC", spelling)
        assert platform.default_soc() == full == platform.current_soc().soc_version
    monkeypatch.delenv("BCE_GRAD_SOC")
    x, y, g, _ = make_call(4, "float32")
    want = bce_backward(g, x, y, soc="Ascend910B1")
    assert bce_backward(g, x, y, soc="ascend910b1").tobytes() == want.tobytes()
    with pytest.raises(ValueError, match=r"parameter\[soc\].*\[Ascend000\]"):
        bce_backward(g, x, y, soc="Ascend000")


def test_bad_target_variable_is_a_clean_error(monkeypatch, fresh_cache):
    monkeypatch.setenv("BCE_GRAD_TARGET", "metal")
    x, y, _, _ = make_call(3, "float32")
    with pytest.raises(ValueError, match="BCE_GRAD_TARGET"):
        bce_backward(1.0, x, y)


def test_cuda_target_without_a_gpu_names_the_variable(monkeypatch, fresh_cache):
    from bce_grad.host_backend.runtime_lib import cuda_device_count

    if cuda_device_count():
        pytest.skip("this machine has a CUDA device")
    monkeypatch.setenv("BCE_GRAD_TARGET", "cuda")
    x, y, _, _ = make_call(4, "float32")
    with pytest.raises(ValueError, match="BCE_GRAD_TARGET.*no usable CUDA device"):
        bce_backward(1.0, x, y)


def test_static_entry_after_dynamic_mean_starts_with_empty_compile_info(tmp_path):
    from impl.binary_cross_entropy_grad import binary_cross_entropy_grad as static_entry
    from impl.dynamic.binary_cross_entropy_grad import binary_cross_entropy_grad as dynamic_entry

    dyn = {"shape": [-1, -1], "dtype": "float32", "format": "ND", "range": [(1, None)] * 2}
    fixed = {"shape": [4, 8], "dtype": "float32", "format": "ND"}
    with kernel_meta_at(tmp_path):
        dynamic_entry(dict(dyn), dict(dyn), dict(dyn), None, dict(dyn), "mean", "dyn_mean")
        static_entry(dict(fixed), dict(fixed), dict(fixed), None, dict(fixed), "none", "static_none")
    assert "reduce_mean_cof_dtype" in json.loads((tmp_path / "dyn_mean.json").read_text())["compile_info"]
    assert json.loads((tmp_path / "static_none.json").read_text())["compile_info"] == {}
