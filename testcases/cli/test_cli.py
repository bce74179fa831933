"""``bce-grad``: every subcommand has --help; run writes results; bad input exits 2 cleanly."""
from __future__ import annotations

import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

from bce_grad.golden import binary_cross_entropy_grad_golden as golden
from bce_grad.tools.cli import COMMAND_MODULES, build_parser, main

SUBCOMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)  # noqa: SLF001


def test_every_registered_module_is_a_subcommand():
    assert len(SUBCOMMANDS) == len(COMMAND_MODULES)
    assert {"run", "compile", "demo", "bench"} <= set(SUBCOMMANDS)


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    assert len(capsys.readouterr().out) > 200


@pytest.fixture
def npy(tmp_path):
    rng = np.random.default_rng(40)
    arrays = {"x": rng.uniform(0.01, 0.99, (4, 6)).astype(np.float32),
              "y": rng.uniform(0, 1, (4, 6)).astype(np.float32),
              "g": rng.uniform(0.5, 1.5, (6,)).astype(np.float32),
              "w": rng.uniform(0, 2, (4, 1)).astype(np.float32),
              "bad_shape": np.ones((5, 6), np.float32), "ints": np.ones((4, 6), np.int64)}
    paths = {}
    for name, array in arrays.items():
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], array)
    (tmp_path / "junk.npy").write_text("not a numpy file")
    paths["junk"] = tmp_path / "junk.npy"
    return arrays, paths


def _args(paths, **extra):
    args = ["run", "--x", str(paths["x"]), "--y", str(paths["y"]), "--grad-output", str(paths["g"])]
    for key, value in extra.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_run_writes_the_golden(npy, tmp_path, reduction):
    arrays, paths = npy
    out = tmp_path / "out.npy"
    assert main(_args(paths, weight=paths["w"], reduction=reduction, out=out)) == 0
    want = golden(x=arrays["x"], y=arrays["y"], grad_output=arrays["g"], weight=arrays["w"], reduction=reduction, compute_dtype="float32", out_dtype="float32")
    np.testing.assert_array_equal(np.load(out), want)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_run_casts_with_dtype(npy, tmp_path, dtype):
    arrays, paths = npy
    out = tmp_path / "out.npy"
    assert main(_args(paths, dtype=dtype, soc="Ascend950PR_9599", out=out)) == 0
    np_dtype = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}[dtype]
    cast = {k: arrays[k].astype(np_dtype) for k in ("x", "y", "g")}
    want = golden(x=cast["x"], y=cast["y"], grad_output=cast["g"], weight=None, reduction="mean", compute_dtype="float32", out_dtype=dtype)
    saved = np.load(out)
    if dtype == "bfloat16":  # np.save keeps bfloat16's bits as |V2
        assert saved.dtype == np.dtype("V2")
        saved = saved.view(ml_dtypes.bfloat16)
    assert saved.dtype == np_dtype
    np.testing.assert_array_equal(saved.view(np.uint16), want.view(np.uint16))


BAD = {
    "reduction": ({"reduction": "avg"}, "--reduction"),
    "missing_file": ({"weight": "/nonexistent/w.npy"}, "--weight"),
    "junk_file": ({"weight": "JUNK"}, "--weight"),
    "int_dtype": ({"weight": "INTS"}, "--weight"),
    "bf16_on_910": ({"dtype": "bfloat16", "soc": "Ascend910A"}, "bfloat16"),
    "soc_310b": ({"soc": "Ascend310B1"}, "Ascend310B"),
    "unknown_soc": ({"soc": "Ascend000"}, "Ascend000"),
    "shape": ({"weight": "BAD_SHAPE"}, "weight"),
    "out_dir": ({"out": "/nonexistent/dir/out.npy"}, "--out"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_exits_2_with_one_line(npy, tmp_path, case, capsys):
    _, paths = npy
    extra, text = BAD[case]
    extra = {k: {"JUNK": paths["junk"], "INTS": paths["ints"], "BAD_SHAPE": paths["bad_shape"]}
             .get(v, v) for k, v in extra.items()}
    extra.setdefault("out", tmp_path / "never.npy")
    try:
        code = main(_args(paths, **extra))
    except SystemExit as done:  # argparse usage errors
        code = done.code
    err = capsys.readouterr().err
    assert code == 2
    assert "error:" in err and text in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: [E8"), "one line with the CANN error code"
    assert not (tmp_path / "never.npy").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".never")]


def test_console_script_end_to_end(npy, tmp_path):
    _, paths = npy
    out = tmp_path / "o.npy"
    done = subprocess.run([sys.executable, "-m", "bce_grad.tools.cli", *_args(paths, out=out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert np.load(out).shape == (4, 6)


def test_compile_writes_kernel_meta(tmp_path, capsys):
    assert main(["compile", "--shape=-1,16", "--dtype", "float16", "--dynamic",
                 "--kernel-meta", str(tmp_path), "--kernel-name", "bce_dyn"]) == 0
    assert (tmp_path / "bce_dyn.so").exists() and (tmp_path / "bce_dyn.json").exists()
    assert main(["compile", "--shape=-2", "--dtype", "float32", "--dynamic", "--no-weight",
                 "--kernel-meta", str(tmp_path), "--kernel-name", "bce_rank"]) == 0
    assert main(["compile", "--shape=8,16", "--kernel-meta", str(tmp_path)]) == 0
    assert main(["compile", "--shape=8,16", "--kernel-meta", str(tmp_path),
                 "--kernel-name", "a/b"]) == 2
    assert "kernel_name" in capsys.readouterr().err


def test_demo_and_quick_bench(tmp_path, capsys):
    assert main(["demo", "--shape", "8,64"]) == 0
    out = capsys.readouterr().out
    assert "bit for bit" in out and out.count("yes") == 9
    report = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--json", str(report)]) == 0
    import json

    records = json.loads(report.read_text())
    assert {r["impl"] for r in records} >= {"roofline", "host_kernel", "host_api", "numpy"}
    assert all(r["gbps"] > 0 and r["median_ms"] > 0 for r in records)
