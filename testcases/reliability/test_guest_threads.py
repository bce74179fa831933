"""A good guest: the op's threads across fork, many short-lived callers, hosts' pools and exit.

Every call here has 131,072 elements, above the runtime's serial threshold (65,536), so the
parallel path runs; ``TVM_NUM_THREADS=2`` makes the process-wide pool parallel on any machine.
Each scenario runs in a fresh interpreter with a watchdog, so a hang fails the test instead of
stopping the suite. Results are compared bit for bit with the float32-order golden.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from .conftest import run_python

SOC = "Ascend910B1"
SHAPE = (512, 256)  # 131,072 elements
ENV = {"TVM_NUM_THREADS": "2", "BCE_GRAD_SOC": SOC}

#: Shared by every child script: inputs, the golden, and one call per entry point ("kind").
PRELUDE = textwrap.dedent(f"""
    import json, os, sys, threading, time
    import numpy as np
    from bce_grad.golden import binary_cross_entropy_grad_golden
    SHAPE = {SHAPE!r}
    PKG = os.environ.get("BCE_GRAD_TEST_PACKAGE", "")

    def inputs(seed=0):
        rng = np.random.default_rng(seed)
        x = rng.uniform(0.02, 0.98, SHAPE).astype(np.float32)
        y = rng.uniform(0.0, 1.0, SHAPE).astype(np.float32)
        g = rng.standard_normal(SHAPE).astype(np.float32)
        return g, x, y

    def expected(seed=0):
        g, x, y = inputs(seed)
        return binary_cross_entropy_grad_golden(x=x, y=y, grad_output=g, reduction="sum",
                                                compute_dtype="float32")

    def call(kind, seed=0):
        g, x, y = inputs(seed)
        if kind == "api":
            import bce_grad
            return bce_grad.binary_cross_entropy_backward(g, x, y, reduction="sum")
        if kind == "runtime":
            from bce_grad.runtime import Runtime
            return Runtime(PKG).backward(g, x, y, reduction="sum")
        if kind == "torch":
            import torch, bce_grad.torch
            bce_grad.torch.set_package(PKG)
            t = [torch.from_numpy(a) for a in (g, x, y)]
            return torch.ops.bce_grad.binary_cross_entropy_backward(*t, None, 2).numpy()
        if kind == "tensorflow":
            import bce_grad.tensorflow as btf
            btf.set_package(PKG)
            return btf.binary_cross_entropy_grad(x, y, g, reduction="sum").numpy()
        if kind == "mindspore":
            import mindspore as ms, bce_grad.mindspore as bms
            bms.set_package(PKG)
            op = bms.BinaryCrossEntropyGrad("sum")
            return op(ms.Tensor(x), ms.Tensor(y), ms.Tensor(g)).asnumpy()
        raise ValueError(kind)

    def checked(kind, seed=0):
        out = call(kind, seed)
        return bool(np.array_equal(out.view(np.uint32), expected(seed).view(np.uint32)))

    def pool_threads():
        names = []
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{{tid}}/comm") as f:
                    names.append(f.read().strip())
            except OSError:
                pass
        return names
""")

KINDS = [
    pytest.param("api", id="numpy-api"),
    pytest.param("runtime", id="runtime"),
    pytest.param("torch", marks=pytest.mark.torch, id="torch"),
    pytest.param("tensorflow", marks=pytest.mark.tensorflow, id="tensorflow"),
    pytest.param("mindspore", marks=pytest.mark.mindspore, id="mindspore"),
]

_FRAMEWORK = {"torch": "torch", "tensorflow": "tensorflow", "mindspore": "mindspore"}


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> str:
    """A small kernel package: float32 sum with x, y and grad_output of one shape."""
    from bce_grad.runtime.kernel_set import KernelSpec, build_package

    path = tmp_path_factory.mktemp("guest") / "package"
    specs = [KernelSpec(("float32",) * 3, "float32", "plain", "d_d_d")]
    build_package(path, SOC, specs, jobs=1, log=lambda line: None)
    return str(path)


def _run(code: str, package: str, timeout: float = 240, **env) -> dict:
    """Run PRELUDE + ``code`` in a fresh interpreter; ``code`` prints one JSON line last."""
    done = run_python(PRELUDE + textwrap.dedent(code),
                      env={**ENV, "BCE_GRAD_TEST_PACKAGE": package, **env}, timeout=timeout)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


FORK_CHILDREN = """
    import multiprocessing as mp
    KIND = sys.argv[1] if len(sys.argv) > 1 else {kind!r}

    def child(seed):
        return checked(KIND, seed)

    if __name__ == "__main__":
        results = {{"parent": checked(KIND)}}
        for _ in range(3):  # any number of parallel calls before the fork
            checked(KIND, 1)
        methods = {methods!r}
        pid = os.fork() if "fork" in methods else -1
        if pid == 0:
            os._exit(0 if checked(KIND, 2) else 3)
        deadline = time.monotonic() + 120
        while pid > 0 and time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                results["os.fork"] = os.waitstatus_to_exitcode(status) == 0
                break
            time.sleep(0.05)
        else:
            if pid > 0:
                os.kill(pid, 9)
                results["os.fork"] = "hung"
        for method in methods:
            with mp.get_context(method).Pool(2) as workers:
                try:
                    results[method] = all(workers.map_async(child, [3, 4]).get(timeout=180))
                except mp.TimeoutError:
                    results[method] = "hung"
                    workers.terminate()
        print(json.dumps(results))
"""


#: MindSpore's own ops (``Tensor * 2``) hang in a fork()ed child of a process that ran one
#: (MindSpore 2.10, seen here): its runtime's threads do not survive fork, so only spawn and
#: forkserver children can run any MindSpore op, this one included.
_START_METHODS = {"mindspore": ("spawn", "forkserver")}


@pytest.mark.parametrize("kind", KINDS)
def test_children_of_a_parallel_caller_get_correct_results(tmp_path, package, kind):
    if kind in _FRAMEWORK:
        pytest.importorskip(_FRAMEWORK[kind])
    methods = _START_METHODS.get(kind, ("fork", "spawn", "forkserver"))
    script = tmp_path / "fork_children.py"  # spawn and forkserver children import __main__
    script.write_text(PRELUDE + textwrap.dedent(FORK_CHILDREN.format(kind=kind, methods=methods)))
    env = dict(os.environ, **ENV, BCE_GRAD_TEST_PACKAGE=package)
    done = subprocess.run([sys.executable, str(script), kind], env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    expected = {"parent": True, **{method: True for method in methods}}
    if "fork" in methods:
        expected["os.fork"] = True
    assert results == expected, results


@pytest.mark.torch
def test_dataloader_workers_call_the_op_after_the_parent_did(package):
    pytest.importorskip("torch")
    result = _run("""
        import torch
        from torch.utils.data import DataLoader, Dataset

        class Calls(Dataset):
            def __len__(self):
                return 4
            def __getitem__(self, i):
                return checked("torch", 10 + i) and checked("api", 20 + i)

        ok = checked("torch") and checked("api")
        loader = DataLoader(Calls(), batch_size=None, num_workers=2, timeout=180)
        print(json.dumps({"parent": ok, "workers": [bool(v) for v in loader]}))
    """, package)
    assert result == {"parent": True, "workers": [True] * 4}


@pytest.mark.parametrize("kind", [pytest.param("api", id="numpy-api"),
                                  pytest.param("runtime", id="runtime")])
def test_short_lived_callers_leave_a_bounded_idle_pool(package, kind):
    result = _run(f"""
        checked({kind!r})
        before = len(pool_threads())
        results = []
        def caller(seed):
            results.append(checked({kind!r}, seed))
        for wave in range(10):  # 200 short-lived callers, 20 at a time
            threads = [threading.Thread(target=caller, args=(wave,)) for _ in range(20)]
            for t in threads: t.start()
            for t in threads: t.join()
        time.sleep(1.0)  # joined threads finish leaving the kernel; idle workers sleep
        after = pool_threads()
        cpu0 = time.process_time()
        time.sleep(2.0)
        idle_cpu = time.process_time() - cpu0
        print(json.dumps({{"ok": all(results), "calls": len(results), "before": before,
                          "after": len(after), "idle_cpu": idle_cpu,
                          "pool": after.count("bce_grad-pool")}}))
    """, package)
    assert result["ok"] and result["calls"] == 200
    # the pool: TVM_NUM_THREADS=2 is the caller plus one worker, made once for the process
    assert result["pool"] == 1, result
    assert result["after"] <= result["before"] + 1, result
    assert result["idle_cpu"] < 0.05, result


@pytest.mark.torch
def test_torch_op_runs_on_torchs_intra_op_pool(package):
    pytest.importorskip("torch")
    result = _run("""
        import torch
        torch.set_num_threads(1)
        ok = all(checked("torch", s) for s in range(3))
        one = pool_threads()
        torch.set_num_threads(2)
        ok = ok and all(checked("torch", s) for s in range(3))
        two = pool_threads()
        print(json.dumps({"ok": ok, "one": len(one), "two": len(two),
                          "ours": two.count("bce_grad-pool")}))
    """, package)
    assert result["ok"], result
    assert result["ours"] == 0, result  # no worker of the runtime's own pool, nor TVM's
    assert result["one"] <= result["two"], result


@pytest.mark.tensorflow
def test_tensorflow_op_runs_on_the_ops_intra_op_pool(package):
    pytest.importorskip("tensorflow")
    result = _run("""
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        ok = all(checked("tensorflow", s) for s in range(3))
        before = pool_threads()
        ok = ok and all(checked("tensorflow", s) for s in range(3, 6))
        after = pool_threads()
        print(json.dumps({"ok": ok, "before": len(before), "after": len(after),
                          "ours": after.count("bce_grad-pool")}))
    """, package)
    assert result["ok"], result
    assert result["ours"] == 0, result
    assert result["after"] == result["before"], result


def test_process_exits_promptly_after_its_last_call_on_a_loaded_machine(package):
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
               for _ in range(os.cpu_count() or 1)]
    try:
        code = PRELUDE + textwrap.dedent("""
            for s in range(5):
                assert checked("api", s)
            print(time.time(), flush=True)
        """)
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                                env=dict(os.environ, **ENV, BCE_GRAD_TEST_PACKAGE=package))
        last_call = float(proc.stdout.readline())
        proc.wait(timeout=120)
        exited = time.time()
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    assert proc.returncode == 0
    assert exited - last_call < 0.5, exited - last_call
