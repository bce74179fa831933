"""``bce-grad bench --frameworks``: this op inside each framework against the framework's own BCE
backward, measured in the same process and run.

Each framework runs in a child process of its own (``python -m bce_grad.tools.bench.frameworks
FRAMEWORK ...``), so one framework's threads and allocator never disturb another's. In the child
both sides run as the framework runs training steps:

* ``torch``: ``torch.ops.bce_grad.binary_cross_entropy_backward`` against
  ``torch.ops.aten.binary_cross_entropy_backward`` (eager, the same arguments);
* ``tensorflow``: the ``BinaryCrossEntropyGrad`` op against ``GradientTape`` through keras's
  elementwise BCE, both in ``tf.function``;
* ``mindspore``: ``bce_grad.mindspore.BinaryCrossEntropyGrad`` against MindSpore's own
  ``BinaryCrossEntropyGrad`` primitive, both in a ``GRAPH_MODE`` cell (each timed batch ends by
  reading the result back, so an asynchronous launch is waited for).

Reduction ``none`` with a full grad_output (every dtype the built-in offers), x in [0.01, 0.99],
y uniform. The two sides alternate, one batch each, ``repeats`` times; a row holds the medians and
``builtin / ours`` (above 1: this op is faster). Before timing, the two results are compared
(float32 within 1e-3, float16/bfloat16 within 5e-2 of the largest magnitude), so a wrong kernel
never reports a speed.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable

FRAMEWORKS = ("torch", "tensorflow", "mindspore")
SHAPES = ((4, 4), (4096, 4096))
DTYPES = ("float32", "float16", "bfloat16")
SOC = "Ascend910B1"


def _package(out: str, dtypes) -> str:
    """Build into ``out`` a kernel package holding the same-shape pattern without weight per
    dtype; returns ``out``."""
    from bce_grad.runtime.kernel_set import KernelSpec, build_package

    build_package(out, SOC, [KernelSpec((d,) * 3, d, "mean", "d_d_d") for d in dtypes],
                  log=lambda line: None)
    return out


def _inputs(shape):
    import numpy as np

    rng = np.random.default_rng(0)
    return (rng.random(shape, dtype=np.float32) * 0.98 + 0.01, rng.random(shape, dtype=np.float32),
            rng.standard_normal(shape, dtype=np.float32))


def _torch_pair(package: str, dtype: str, shape):
    import torch

    import bce_grad.torch

    bce_grad.torch.set_package(package)
    x, y, g = (torch.from_numpy(a).to(getattr(torch, dtype)) for a in _inputs(shape))
    ours = torch.ops.bce_grad.binary_cross_entropy_backward
    aten = torch.ops.aten.binary_cross_entropy_backward
    return (lambda: ours(g, x, y, None, 0)), (lambda: aten(g, x, y, None, 0)), \
        (lambda out: out.float().numpy())


def _tensorflow_pair(package: str, dtype: str, shape):
    import keras
    import tensorflow as tf

    import bce_grad.tensorflow as bce

    bce.set_package(package)
    x, y, g = (tf.cast(a, dtype) for a in _inputs(shape))
    ours = tf.function(lambda: bce.binary_cross_entropy_grad(x, y, g, reduction="none"))

    @tf.function
    def builtin():
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = keras.ops.binary_crossentropy(y, x)
        return tape.gradient(loss, x, output_gradients=g)

    return ours, builtin, (lambda out: tf.cast(out, tf.float32).numpy())


def _mindspore_pair(package: str, dtype: str, shape):
    import mindspore as ms
    from mindspore.ops.operations import _grad_ops

    import bce_grad.mindspore as bms

    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_device("CPU")
    bms.set_package(package)

    class Builtin(ms.nn.Cell):
        def __init__(self):
            super().__init__()
            self.op = _grad_ops.BinaryCrossEntropyGrad("none")

        def construct(self, a, b, c):
            return self.op(a, b, c)

    x, y, g = (ms.Tensor(a, getattr(ms, dtype)) for a in _inputs(shape))
    ours, builtin = bms.BinaryCrossEntropyGrad("none"), Builtin()
    return (lambda: ours(x, y, g)), (lambda: builtin(x, y, g)), \
        (lambda out: (out.float() if out.dtype == ms.bfloat16 else out).asnumpy())


PAIRS: dict[str, Callable] = {"torch": _torch_pair, "tensorflow": _tensorflow_pair,
                              "mindspore": _mindspore_pair}


def _batch(fn, calls: int, done) -> float:
    """Seconds per call over ``calls`` calls; the last result is read back (``done``)."""
    start = time.perf_counter()
    for _ in range(calls - 1):
        fn()
    done(fn())
    return (time.perf_counter() - start) / calls


def _agree(ours, theirs, dtype: str) -> None:
    import numpy as np

    # a sanity check, not an exactness test (the tests do that): the built-ins round after each
    # step (torch's bfloat16 by up to 2.2e-2 relative) or cancel where x is near y (keras)
    rtol = 1e-3 if dtype == "float32" else 5e-2
    finite = np.isfinite(ours) & np.isfinite(theirs)
    scale = float(np.max(np.abs(theirs[finite]), initial=0.0))
    if not np.allclose(ours[finite], theirs[finite], rtol=rtol, atol=rtol * scale):
        worst = float(np.max(np.abs(ours[finite] - theirs[finite]) /
                             np.maximum(np.abs(theirs[finite]), 1e-30)))
        raise SystemExit(f"error: [E80000] this op and the built-in disagree in {dtype} "
                         f"(worst relative difference {worst:.3g}); not timing a wrong kernel")


def child(framework: str, shapes, dtypes, repeats: int) -> list[dict]:
    """Measure one framework in this process; returns one record per (shape, dtype).

    The kernel package lives in a temporary directory removed on return (the libraries the
    framework loaded from it stay mapped until the process ends)."""
    with tempfile.TemporaryDirectory(prefix="bce_grad_bench_frameworks_") as tmp:
        return _measure(framework, _package(tmp, dtypes), shapes, dtypes, repeats)


def _measure(framework: str, package: str, shapes, dtypes, repeats: int) -> list[dict]:
    records = []
    for shape in shapes:
        for dtype in dtypes:
            record = {"framework": framework, "shape": list(shape), "dtype": dtype,
                      "reduction": "none", "repeats": repeats}
            ours, builtin, done = PAIRS[framework](package, dtype, shape)
            try:
                theirs_out = done(builtin())
            except Exception as err:  # noqa: BLE001 - the built-in refuses this dtype
                lines = [line.strip().lstrip("-=> ").strip() for line in str(err).splitlines()]
                lines = [line for line in lines if line]
                text = lines[0] if lines else type(err).__name__
                if text.endswith(":") and len(lines) > 1:  # "Kernel select failed:" + why
                    text = f"{text} {lines[1]}"
                record["builtin_error"] = text[:160]
                theirs_out = None
            ours_out = done(ours())
            if theirs_out is not None:
                _agree(ours_out, theirs_out, dtype)
            numel = 1
            for d in shape:
                numel *= d
            calls = 1000 if numel < 4096 else 5
            sides = {"ours": ours} if theirs_out is None else {"ours": ours, "builtin": builtin}
            runs: dict[str, list[float]] = {name: [] for name in sides}
            for _ in range(repeats):  # alternate the sides, one batch each
                for name, fn in sides.items():
                    runs[name].append(_batch(fn, calls, done))
            for name, values in runs.items():
                record[f"{name}_ms"] = statistics.median(values) * 1e3
            if "builtin_ms" in record:
                record["builtin_over_ours"] = record["builtin_ms"] / record["ours_ms"]
            records.append(record)
    return records


def installed(framework: str) -> bool:
    """Whether ``framework`` can be imported (without importing it)."""
    import importlib.util

    return importlib.util.find_spec(framework) is not None


def run_all(frameworks, shapes, dtypes, repeats: int, log=print) -> list[dict]:
    """Every framework's records, each measured in a child process; absent frameworks are
    reported as records with ``skipped``."""
    records = []
    for framework in frameworks:
        if not installed(framework):
            records.append({"framework": framework, "skipped": f"{framework} is not installed "
                            f"(pip install 'bce-grad[{framework}]')"})
            continue
        log(f"bench --frameworks: {framework} ...")
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "records.json")
            cmd = [sys.executable, "-m", "bce_grad.tools.bench.frameworks", framework,
                   "--shapes", ";".join(",".join(map(str, s)) for s in shapes),
                   "--dtypes", ",".join(dtypes), "--repeats", str(repeats), "--json", out]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
                records.append({"framework": framework, "failed": tail[0]})
                continue
            with open(out, encoding="utf-8") as handle:
                records.extend(json.load(handle))
    return records


def table(records: list[dict]) -> str:
    """A plain-text table of the records."""
    lines = [f"{'framework':>10} {'shape':>12} {'dtype':>9} {'bce_grad':>11} {'built-in':>11} "
             f"{'built-in/ours':>13}"]
    for r in records:
        if "shape" not in r:
            lines.append(f"{r['framework']:>10}  {r.get('skipped') or r.get('failed')}")
            continue
        theirs = f"{r['builtin_ms']:9.3f}ms" if "builtin_ms" in r else "       n/a"
        ratio = f"{r['builtin_over_ours']:12.2f}x" if "builtin_over_ours" in r else \
            f"  ({r.get('builtin_error', '')[:40]})"
        lines.append(f"{r['framework']:>10} {str(tuple(r['shape'])):>12} {r['dtype']:>9} "
                     f"{r['ours_ms']:9.3f}ms {theirs} {ratio}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="one framework's rows of bench --frameworks")
    parser.add_argument("framework", choices=FRAMEWORKS)
    parser.add_argument("--shapes", default=";".join(",".join(map(str, s)) for s in SHAPES))
    parser.add_argument("--dtypes", default=",".join(DTYPES))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", required=True)
    args = parser.parse_args(argv)
    shapes = [tuple(int(d) for d in item.split(",")) for item in args.shapes.split(";")]
    records = child(args.framework, shapes, args.dtypes.split(","), args.repeats)
    with open(args.json, "w", encoding="utf-8") as handle:
        json.dump(records, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
