"""``bce-grad`` with awkward files and settings: every problem is one ``error: [E8xxxx]`` line.

Inputs must be regular ``.npy`` files (bfloat16 ``|V2`` ones included); ``--out`` is
written as a careful shell redirect would (see ``bce_grad/tools/deploy/files.write_output``).
"""
from __future__ import annotations

import os
import stat
import threading

import ml_dtypes
import numpy as np
import pytest

from bce_grad.golden import binary_cross_entropy_grad_golden as golden
from bce_grad.tools.cli import main

BF16 = ml_dtypes.bfloat16


@pytest.fixture
def inputs(tmp_path):
    rng = np.random.default_rng(7)
    arrays = {"x": rng.uniform(0.01, 0.99, (4, 6)).astype(np.float32),
              "y": rng.uniform(0, 1, (4, 6)).astype(np.float32),
              "g": rng.uniform(0.5, 1.5, (4, 6)).astype(np.float32)}
    paths = {}
    for name, array in arrays.items():
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], array)
    return arrays, paths


def _run_args(paths, x=None, **extra):
    args = ["run", "--x", str(x or paths["x"]), "--y", str(paths["y"]),
            "--grad-output", str(paths["g"])]
    for key, value in extra.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args


def _exit_code(argv) -> int:
    try:
        return main(argv)
    except SystemExit as done:
        return done.code


def _one_error_line(capsys, code: str = "E8") -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"error: [{code}"), err
    return last


# ---- bfloat16 .npy files --------------------------------------------------------------------
def test_bfloat16_npy_round_trips(inputs, tmp_path):
    arrays, paths = inputs
    for name in ("x", "y", "g"):
        np.save(paths[name], arrays[name].astype(BF16))  # stored as |V2
    assert np.load(paths["x"]).dtype == np.dtype("V2")
    out = tmp_path / "dx.npy"
    assert main(_run_args(paths, out=out, soc="Ascend910B1")) == 0
    got = np.load(out).view(BF16)
    x, y, g = (arrays[k].astype(BF16) for k in ("x", "y", "g"))
    want = golden(x=x, y=y, grad_output=g, reduction="mean", compute_dtype="float32",
                  out_dtype="bfloat16")
    assert np.array_equal(got.view(np.uint16), want.view(np.uint16))
    assert main(_run_args(paths, out=out, dtype="bfloat16")) == 0  # the hint the error gives


# ---- inputs that are not .npy files ---------------------------------------------------------
def _make_bad_input(kind: str, tmp_path):
    path = tmp_path / f"bad_{kind}"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("0.5, 0.25\n")
    elif kind == "npz":
        np.savez(path, x=np.ones(3, np.float32))
        path = path.with_suffix(".npz")
    elif kind == "truncated":
        np.save(path, np.ones((64, 64), np.float32))
        path = path.with_suffix(".npy")
        path.write_bytes(path.read_bytes()[:200])
    elif kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "parent_is_file":
        path.write_text("x")
        path = path / "x.npy"
    return path


@pytest.mark.parametrize("kind", ["empty", "text", "npz", "truncated", "directory", "fifo",
                                  "parent_is_file"])
def test_bad_input_file_is_one_clean_line(inputs, tmp_path, kind, capsys):
    _, paths = inputs
    bad = _make_bad_input(kind, tmp_path)
    out = tmp_path / "never.npy"
    assert _exit_code(_run_args(paths, x=bad, out=out)) == 2  # a FIFO must not hang
    line = _one_error_line(capsys, "E80000")
    assert "--x" in line and "pickled" not in line
    assert not out.exists()


# ---- --out ----------------------------------------------------------------------------------
def test_out_follows_a_symlink_and_keeps_it(inputs, tmp_path):
    _, paths = inputs
    target = tmp_path / "target.npy"
    target.write_bytes(b"old")
    link = tmp_path / "link.npy"
    link.symlink_to(target)
    assert main(_run_args(paths, out=link)) == 0
    assert link.is_symlink() and np.load(target).shape == (4, 6)


def test_out_keeps_an_existing_files_mode(inputs, tmp_path):
    _, paths = inputs
    out = tmp_path / "out.npy"
    out.write_bytes(b"old")
    out.chmod(0o640)
    assert main(_run_args(paths, out=out)) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o640 and np.load(out).shape == (4, 6)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_new_out_file_takes_the_umask(inputs, tmp_path, umask, mode):
    _, paths = inputs
    out = tmp_path / "new.npy"
    previous = os.umask(umask)
    try:
        assert main(_run_args(paths, out=out)) == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE(out.stat().st_mode) == mode


def test_out_refuses_a_read_only_file(inputs, tmp_path, capsys):
    _, paths = inputs
    out = tmp_path / "ro.npy"
    out.write_bytes(b"keep me")
    out.chmod(0o444)
    assert _exit_code(_run_args(paths, out=out)) == 2
    assert "read-only" in _one_error_line(capsys, "E80000")
    assert out.read_bytes() == b"keep me"


def test_out_writes_a_fifo_in_place(inputs, tmp_path):
    _, paths = inputs
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    assert main(_run_args(paths, out=fifo)) == 0
    reader.join(timeout=30)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert received and received[0].startswith(b"\x93NUMPY")


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a character device needs root")
def test_out_writes_a_character_device_in_place(inputs, tmp_path):
    _, paths = inputs
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a private /dev/null
    assert main(_run_args(paths, out=null)) == 0
    assert stat.S_ISCHR(null.lstat().st_mode)


@pytest.mark.parametrize("kind, words", [("directory", "directory"),
                                         ("parent_is_file", "parent is a file"),
                                         ("missing_parent", "does not exist")])
def test_out_bad_places(inputs, tmp_path, kind, words, capsys):
    _, paths = inputs
    if kind == "directory":
        out = tmp_path
    elif kind == "parent_is_file":
        (tmp_path / "a.npy").write_bytes(b"x")
        out = tmp_path / "a.npy" / "out.npy"
    else:
        out = tmp_path / "nope" / "out.npy"
    assert _exit_code(_run_args(paths, out=out)) == 2
    line = _one_error_line(capsys, "E80000")
    assert "--out" in line and words in line
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# ---- options, settings and SoC spellings ----------------------------------------------------
def test_missing_required_option_is_e80001(capsys):
    assert _exit_code(["run", "--x", "x.npy"]) == 2
    assert "required" in _one_error_line(capsys, "E80001")


def test_version(capsys):
    assert _exit_code(["--version"]) == 0
    from bce_grad import __version__

    assert capsys.readouterr().out.strip() == f"bce-grad {__version__}"


@pytest.mark.parametrize("spelling", ["Ascend910B1", "Ascend910B", "ascend910b", "ASCEND910B"])
def test_every_subcommand_takes_the_same_soc_spellings(inputs, tmp_path, spelling):
    _, paths = inputs
    assert main(["opinfo", "--soc", spelling, "--out", str(tmp_path / "oi")]) == 0
    assert [p.name for p in (tmp_path / "oi").iterdir()] == ["ascend910b"]
    assert main(_run_args(paths, soc=spelling)) == 0
    assert main(["atc-json", "--shape", "4,6", "--dtype", "bfloat16", "--soc", spelling]) == 0


def test_bce_grad_soc_is_honoured_by_run_and_demo(inputs, monkeypatch, capsys):
    _, paths = inputs
    monkeypatch.setenv("BCE_GRAD_SOC", "Ascend910A")
    assert main(["demo", "--shape", "4,8"]) == 0
    assert "SoC Ascend910A" in capsys.readouterr().out
    assert _exit_code(_run_args(paths, dtype="bfloat16")) == 2  # no bf16 on Ascend910
    assert "Ascend910" in _one_error_line(capsys, "E80008")


def test_bad_bce_grad_soc_names_the_variable(inputs, monkeypatch, capsys):
    _, paths = inputs
    monkeypatch.setenv("BCE_GRAD_SOC", "Ascend000")
    assert _exit_code(_run_args(paths)) == 2
    line = _one_error_line(capsys, "E80000")
    assert "BCE_GRAD_SOC" in line and "Ascend000" in line


def test_bad_bce_grad_target_names_the_variable(inputs, monkeypatch, capsys):
    _, paths = inputs
    monkeypatch.setenv("BCE_GRAD_TARGET", "metal")
    assert _exit_code(_run_args(paths)) == 2
    line = _one_error_line(capsys, "E80000")
    assert "BCE_GRAD_TARGET" in line and "metal" in line


# ---- demo -----------------------------------------------------------------------------------
def test_demo_runs_an_empty_x(capsys):
    assert main(["demo", "--shape", "0,5", "--soc", "Ascend910A"]) == 0
    assert "bit for bit" in capsys.readouterr().out


@pytest.mark.parametrize("shape, code", [("5,-1", "E80000"), ("5,x", "E80000"),
                                         ("100000,100000,100", "E80002")])
def test_demo_refuses_bad_or_huge_shapes(shape, code, capsys):
    assert _exit_code(["demo", "--shape", shape]) == 2
    assert "--shape" in _one_error_line(capsys, code)


# ---- ut and st ------------------------------------------------------------------------------
def test_ut_with_an_unknown_soc_says_so(tmp_path, capsys):
    assert _exit_code(["ut", "--case_files", str(tmp_path), "--soc_version", "Ascend000"]) == 2
    line = _one_error_line(capsys, "E80000")
    assert "Ascend000" in line and "unknown" in line
