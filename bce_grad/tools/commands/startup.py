"""``bce-grad bench --startup``: how long whole commands take, in fresh processes.

Each command runs ``--repeats`` times as a new ``python -m bce_grad ...`` process and
the median wall time is reported beside ``python -c pass`` (the interpreter alone),
measured in the same run. ``run`` uses an (8, 16) float32 input whose kernel is built
once before timing, so it shows the warm-cache start a user sees on a second call.

The *first use* rows run each time with an empty cache (``BCE_GRAD_CACHE`` a new folder):
``import bce_grad`` and a first numpy call; ``import bce_grad.torch`` and a first
``backward()`` beside ``import torch`` alone; a first call on another SoC (one kernel compiled,
the runtime already built), from numpy and from ``backward()`` (no kernel package is built: the
op compiles the one kernel it needs); the Quick start's ``demo``. From a binary wheel the first
two compile nothing; from a checkout they build the runtime (and the torch row the adapter,
which is why it runs only where a wheel's prebuilt parts serve it).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

#: Goals from the project's issue tracker, in seconds ("+ import torch": plus that row's time).
GOALS = {"--help": 0.5, "run (8,16), warm kernel cache": 1.5,
         "import bce_grad + first numpy call, empty cache": 1.0,
         "import bce_grad.torch + first backward(), empty cache": "import torch + 1.0",
         "first call on another SoC (one kernel), warm runtime": 2.0,
         "first torch backward on another SoC (one kernel)": "import torch + 2.0",
         "demo (Quick start), empty cache": 15.0}
#: A first numpy call (a column grad_output: a broadcast pattern).
FIRST_CALL = ("import numpy as np, bce_grad; x = np.full((64, 128), 0.3, np.float32); "
              "bce_grad.binary_cross_entropy_backward(np.ones((64, 1), np.float32), x, x{soc})")
FIRST_BACKWARD = ("import torch, bce_grad.torch as b; x = torch.rand(8, 4, requires_grad=True); "
                  "b.binary_cross_entropy(x, torch.rand(8, 4)).backward()")


def _time_command(argv: list[str], repeats: int, env: dict[str, str],
                  fresh: Callable[[], dict[str, str]] | None = None) -> float:
    """Median wall seconds of ``argv`` over ``repeats`` fresh processes (after one warm-up);
    ``fresh`` gives each run its own environment (an empty cache) instead of ``env``."""
    times = []
    for index in range(repeats + 1):
        run_env = fresh() if fresh is not None else env
        start = time.perf_counter()
        done = subprocess.run(argv, env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              check=False)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: "
                               f"{done.stderr.decode(errors='replace').strip()[-400:]}")
        if index:
            times.append(elapsed)
    return statistics.median(times)


def _write_inputs(folder: Path) -> list[str]:
    import numpy as np

    rng = np.random.default_rng(0)
    args = []
    for name, low in (("x", 0.01), ("y", 0.0), ("grad-output", 0.5)):
        path = folder / f"{name}.npy"
        np.save(path, rng.uniform(low, 0.99, (8, 16)).astype(np.float32))
        args += [f"--{name}", str(path)]
    return args


def run_startup(args: argparse.Namespace) -> int:
    """Time the commands, print a table and optionally write JSON records."""
    repeats = 3 if args.quick else min(args.repeats, 7)
    cli = [sys.executable, "-m", "bce_grad"]
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="bce_grad_startup_") as tmp:
        run_args = _write_inputs(Path(tmp))
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "--help": [*cli, "--help"],
            "run --help": [*cli, "run", "--help"],
            "opinfo": [*cli, "opinfo", "--out", str(Path(tmp) / "op_info")],
            "atc-json": [*cli, "atc-json", "--shape", "8,16", "--dtype", "float32"],
            "run (8,16), warm kernel cache": [*cli, "run", *run_args],
        }
        subprocess.run(commands["run (8,16), warm kernel cache"], env=env, check=True,
                       stdout=subprocess.DEVNULL)  # builds the kernel: the timed runs are warm
        records = []
        for name, argv in commands.items():
            print(f"timing {name} ...", file=sys.stderr)
            seconds = _time_command(argv, repeats, env)
            records.append({"command": name, "median_s": round(seconds, 3),
                            "goal_s": GOALS.get(name), "repeats": repeats})
        records += _first_use_rows(Path(tmp), 1 if args.quick else repeats, env)
    print(f"{'command':<54} {'median s':>9} {'goal s':>7}")
    for rec in records:
        goal = rec["goal_s"] if isinstance(rec["goal_s"], str) else \
            f"{rec['goal_s']:.1f}" if rec["goal_s"] else ""
        median = f"{rec['median_s']:>9.3f}" if rec["median_s"] is not None else f"{'-':>9}"
        print(f"{rec['command']:<54} {median} {goal:>7}" +
              (f"  ({rec['note']})" if rec.get("note") else ""))
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=2) + "\n", encoding="utf-8")
    return 0


def _first_use_rows(tmp: Path, repeats: int, env: dict[str, str]) -> list[dict]:
    """The rows timed on an empty cache (see the module's docstring)."""
    import importlib.util

    from bce_grad.runtime import prebuilt
    from bce_grad.runtime.packages import shipped_package

    counter = iter(range(10**6))

    def empty_cache() -> dict[str, str]:
        return dict(env, BCE_GRAD_CACHE=str(tmp / f"cold{next(counter)}"))

    warm_runtime = dict(env, BCE_GRAD_CACHE=str(tmp / "warm"))
    subprocess.run([sys.executable, "-c", FIRST_CALL.format(soc="")], env=warm_runtime,
                   check=True)  # builds (or finds) the runtime library in that cache

    def runtime_only() -> dict[str, str]:
        shutil.rmtree(tmp / "warm" / "kernels", ignore_errors=True)  # the one kernel again
        return warm_runtime

    has_torch = importlib.util.find_spec("torch") is not None
    other_soc = dict(warm_runtime, BCE_GRAD_SOC="Ascend910A")
    if has_torch:  # the adapter (a checkout builds it here, untimed) and the runtime, warm
        subprocess.run([sys.executable, "-c", FIRST_BACKWARD], env=other_soc, check=True)

    def adapter_only() -> dict[str, str]:
        shutil.rmtree(tmp / "warm" / "kernels", ignore_errors=True)
        return other_soc

    served = shipped_package(prebuilt.SOC, "default") is not None
    rows = [("import bce_grad + first numpy call, empty cache",
             [sys.executable, "-c", FIRST_CALL.format(soc="")], empty_cache, None),
            ("import torch", [sys.executable, "-c", "import torch"], None, None),
            ("import bce_grad.torch + first backward(), empty cache",
             [sys.executable, "-c", FIRST_BACKWARD], empty_cache,
             None if served else "skipped: a checkout builds the torch adapter here (g++, "
                                 "about 15 s); measured from a binary wheel install"),
            ("first call on another SoC (one kernel), warm runtime",
             [sys.executable, "-c", FIRST_CALL.format(soc=', soc="Ascend910A"')], runtime_only,
             None),
            ("first torch backward on another SoC (one kernel)",
             [sys.executable, "-c", FIRST_BACKWARD], adapter_only, None),
            ("demo (Quick start), empty cache", [sys.executable, "-m", "bce_grad", "demo"],
             empty_cache, None)]
    records = []
    for name, argv, fresh, skipped in rows:
        if "torch" in name and not has_torch:
            skipped = "skipped: torch is not installed"
        seconds = None
        if skipped is None:
            print(f"timing {name} ...", file=sys.stderr)
            seconds = round(_time_command(argv, repeats, env, fresh), 3)
        records.append({"command": name, "median_s": seconds, "goal_s": GOALS.get(name),
                        "repeats": repeats, "note": skipped,
                        "installed_from": "wheel" if prebuilt.runtime_library() else "checkout"})
    return records
