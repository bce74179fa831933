"""``bce-grad bench --startup``: how long whole commands take, in fresh processes.

Each command runs ``--repeats`` times as a new ``python -m bce_grad ...`` process and
the median wall time is reported beside ``python -c pass`` (the interpreter alone),
measured in the same run. ``run`` uses an (8, 16) float32 input whose kernel is built
once before timing, so it shows the warm-cache start a user sees on a second call.
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
from pathlib import Path

#: Goals from the project's issue tracker, in seconds.
GOALS = {"--help": 0.5, "run (8,16), warm kernel cache": 1.5}


def _time_command(argv: list[str], repeats: int, env: dict[str, str]) -> float:
    """Median wall seconds of ``argv`` over ``repeats`` fresh processes (after one warm-up)."""
    times = []
    for index in range(repeats + 1):
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
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
    print(f"{'command':<32} {'median s':>9} {'goal s':>7}")
    for rec in records:
        goal = f"{rec['goal_s']:.1f}" if rec["goal_s"] else ""
        print(f"{rec['command']:<32} {rec['median_s']:>9.3f} {goal:>7}")
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=2) + "\n", encoding="utf-8")
    return 0
