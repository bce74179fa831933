"""Per-call time of the TF op BinaryCrossEntropyGrad against TF's own BCE gradient, same run.

    python -m testcases.frameworks.bench_tensorflow [--package DIR] [--repeats 7]
        [--reductions mean,none]

Both run as ``tf.function`` graphs (how TF trains): ours is one ``BinaryCrossEntropyGrad`` node;
TF's is ``GradientTape`` through ``tf.keras``'s elementwise BCE (clip, log, mean) with the same
upstream gradient (0-d for mean, x's shape for none). x in [0.01, 0.99], y uniform. Each row: the
median of ``repeats`` timings (each the mean over a batch of calls), with the min-max spread; the
two alternate, so machine noise hits both. Outputs are checked against each other first. Without
``--package`` a package holding the patterns timed is compiled into a temporary directory.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

SHAPES = ((4, 4), (4096, 4096))
DTYPES = ("float32", "float16", "bfloat16")


def _package(path: str | None) -> str:
    if path:
        return path
    from bce_grad.runtime.kernel_set import KernelSpec, build_package

    out = tempfile.mkdtemp(prefix="bce_grad_bench_tf_pkg_")
    specs = [KernelSpec((d,) * 3, d, "mean", key) for d in DTYPES for key in ("d_d_1", "d_d_d")]
    build_package(out, "Ascend910B1", specs, log=lambda line: None)
    return out


def _time(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def _check(ours, theirs, x, y, g, dtype: str, reduction: str) -> None:
    """The two agree within the tests' bound (tf_support.keras_tolerance: keras cancels near
    x == y, so the bound scales with its terms, not with the result), plus, for results in the
    subnormal range (float16 mean at 4096 x 4096: 1/N is 2**-24), the dtype's subnormal spacing
    times keras's factor (its 1/N rounds there before it is multiplied by 1/x and 1/(1-x))."""
    import ml_dtypes
    import numpy as np

    from testcases.frameworks.tf_support import keras_tolerance

    def f32(t):
        return t.numpy().astype(np.float32)

    a = f32(ours)
    xs, ys = f32(x).astype(np.float64), f32(y).astype(np.float64)
    spacing = float(ml_dtypes.finfo(dtype).smallest_subnormal)
    bound = keras_tolerance(dtype, f32(g), f32(x), f32(y), None, reduction, a) + \
        4 * spacing * (1 + ys / xs + (1 - ys) / (1 - xs))
    excess = np.abs(a.astype(np.float64) - f32(theirs)) - bound
    if excess.max() > 0:
        raise AssertionError(f"{dtype} {reduction}: ours and TF's differ beyond the tests' bound "
                             f"(by {excess.max():.3g})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", default=os.environ.get("BCE_GRAD_PACKAGE"))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--reductions", default="mean,none")
    parser.add_argument("--shapes", default=",".join("x".join(map(str, s)) for s in SHAPES),
                        help="comma-separated, e.g. 4x4,4096x4096")
    args = parser.parse_args()
    package = _package(args.package)

    import keras
    import numpy as np
    import tensorflow as tf

    import bce_grad.tensorflow as bce

    bce.set_package(package)
    ours = tf.function(lambda x, y, g, r: bce.binary_cross_entropy_grad(x, y, g, reduction=r))

    @tf.function
    def theirs(x, y, g, r):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = keras.ops.binary_crossentropy(y, x)
            if r == "mean":
                loss = tf.reduce_mean(loss)
        return tape.gradient(loss, x, output_gradients=g)

    print(f"tensorflow {tf.__version__}, {os.cpu_count()} CPUs, "
          f"TVM_NUM_THREADS={os.environ.get('TVM_NUM_THREADS', 'unset')}; tf.function, median of "
          f"{args.repeats}")
    print(f"{'shape':>12} {'dtype':>8} {'red.':>4} {'bce_grad':>10} {'tf/keras':>10} "
          f"{'tf/ours':>7}  spread (ours | tf)")
    shapes = [tuple(int(d) for d in item.split("x")) for item in args.shapes.split(",")]
    for shape in shapes:
        rng = np.random.default_rng(0)
        x32 = rng.random(shape, dtype=np.float32) * 0.98 + 0.01
        y32 = rng.random(shape, dtype=np.float32)
        big = x32.size >= 1 << 20
        calls = 3 if big else 500
        unit, scale = ("ms", 1e3) if big else ("us", 1e6)
        for dtype in DTYPES:
            x, y = tf.cast(x32, dtype), tf.cast(y32, dtype)
            for reduction in args.reductions.split(","):
                g = tf.ones([], dtype) if reduction == "mean" else tf.cast(
                    rng.standard_normal(shape, dtype=np.float32), dtype)
                a, b = ours(x, y, g, reduction), theirs(x, y, g, reduction)
                _check(a, b, x, y, g, dtype, reduction)
                runs = {"ours": [], "tf": []}
                for _ in range(args.repeats):  # alternate the two, one batch each
                    runs["ours"].append(_time(lambda: ours(x, y, g, reduction), calls))
                    runs["tf"].append(_time(lambda: theirs(x, y, g, reduction), calls))
                med = {k: statistics.median(v) * scale for k, v in runs.items()}
                spread = " | ".join(f"{min(v) * scale:.3g}-{max(v) * scale:.3g}"
                                    for v in runs.values())
                print(f"{str(shape):>12} {dtype:>8} {reduction:>4} {med['ours']:7.3f} {unit} "
                      f"{med['tf']:7.3f} {unit} {med['tf'] / med['ours']:6.2f}x  {spread} {unit}",
                      flush=True)


if __name__ == "__main__":
    main()
