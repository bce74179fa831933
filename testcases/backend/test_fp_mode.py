"""Kernels compute in the IEEE default FP mode whatever the caller's MXCSR says.

A caller with flush-to-zero and denormals-are-zero set (``torch.set_flush_denormal(True)``
does that) must get the same bits as one without, on 1 and on 2 threads, and get its
own MXCSR back unchanged. Each case runs in a child process: TVM reads
``TVM_NUM_THREADS`` once per process.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bce_grad.host_backend import targets

pytestmark = pytest.mark.skipif(not targets.host_triple().startswith("x86_64"),
                                reason="MXCSR is x86's")

#: The child: builds a tiny TVM function that reads/writes MXCSR on the calling thread,
#: then runs DSL kernels whose inputs and results are float32 denormals with FTZ|DAZ set.
_CHILD = textwrap.dedent('''
    import json, sys
    from pathlib import Path
    import numpy as np
    import tvm
    from tvm import tirx
    sys.path.insert(0, {testdir!r})
    from dsl_harness import build_and_run
    from bce_grad.host_backend import dsl as tbe

    def mxcsr_function(intrinsic):
        buf = tirx.decl_buffer((1,), "uint32", name="word")
        call = tirx.call_llvm_intrin("void", intrinsic,
                                     tirx.address_of(tirx.BufferLoad(buf, [0])))
        func = tirx.PrimFunc([buf], tirx.Evaluate(call)).with_attr("global_symbol", "main")
        return tvm.compile(tvm.IRModule({{"main": func}}),
                           target=tvm.target.Target({{"kind": "llvm",
                                                     "mtriple": "x86_64-linux-gnu"}}))

    get_f, set_f = mxcsr_function("llvm.x86.sse.stmxcsr"), mxcsr_function("llvm.x86.sse.ldmxcsr")

    def mxcsr():
        word = tvm.runtime.tensor(np.zeros(1, np.uint32))
        get_f(word)
        return int(word.numpy()[0])

    def set_mxcsr(value):
        set_f(tvm.runtime.tensor(np.array([value], np.uint32)))

    work = Path(sys.argv[1])
    rng = np.random.default_rng(3)
    shape = (512, 1024)  # >= 256 rows: the rows run in parallel on every thread
    # small normals whose half is denormal, and denormal inputs (DAZ would zero them)
    normal = rng.uniform(1e-38, 2e-38, shape).astype(np.float32)
    tiny = (rng.integers(1, 1 << 23, shape, dtype=np.uint32)).view(np.float32)
    want_half = np.ldexp(normal.astype(np.float64), -1).astype(np.float32)
    want_sum = (tiny.astype(np.float64) + tiny.astype(np.float64)).astype(np.float32)
    before = mxcsr()
    results = {{}}
    for ftz in (False, True):
        flushed = before | 0x8040 if ftz else before & ~0x8040
        set_mxcsr(flushed)
        half, _ = build_and_run(lambda a: tbe.vmuls(a, 0.5), [normal], ["float32"], [shape],
                                shape, np.float32, work / f"half{{ftz}}")
        twice, _ = build_and_run(lambda a: tbe.vadd(a, a), [tiny], ["float32"], [shape],
                                 shape, np.float32, work / f"sum{{ftz}}")
        after = mxcsr()
        set_mxcsr(before)
        results[str(ftz)] = {{
            "set": flushed, "after": after,
            "half_exact": bool(np.array_equal(half.view(np.uint32), want_half.view(np.uint32))),
            "sum_exact": bool(np.array_equal(twice.view(np.uint32), want_sum.view(np.uint32))),
            "zeros": int((half == 0).sum() + (twice == 0).sum()),
        }}
    print(json.dumps(results))
''')


@pytest.mark.parametrize("threads", [1, 2])
def test_denormal_results_ignore_the_callers_ftz_daz(threads, tmp_path):
    script = tmp_path / "child.py"
    script.write_text(_CHILD.format(testdir=str(Path(__file__).parent)))
    env = dict(os.environ, TVM_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, str(script), str(tmp_path)], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout.strip().splitlines()[-1])
    for ftz, res in results.items():
        assert res["after"] == res["set"], f"caller's MXCSR changed (ftz={ftz}): {res}"
        assert res["half_exact"] and res["sum_exact"] and res["zeros"] == 0, \
            f"{threads} thread(s), caller FTZ/DAZ={ftz}: {res}"
    assert results["True"]["set"] & 0x8040 == 0x8040
