"""The kernel cache heals itself: damaged files, killed builds, rival builders, a size cap."""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bce_grad.api import binary_cross_entropy_backward as bce_backward
from bce_grad.host_backend.errors import OpError
from bce_grad import kernel_cache

from .cases import golden, make_call, same_bits
from .conftest import run_python

#: A call in a fresh process: checks the result against the golden, prints the warnings.
CALL = """
import sys, warnings
from bce_grad.api import binary_cross_entropy_backward as f
from bce_grad.kernel_cache import KernelCacheWarning
from testcases.reliability.cases import golden, make_call, same_bits
x, y, g, w = make_call(11, "float32", gshape=(8,))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for _ in range(2):
        assert same_bits(f(g, x, y, w, "mean"), golden(x, y, g, w, "mean", "float32"))
print("warnings:", sum(issubclass(c.category, KernelCacheWarning) for c in caught))
"""


def _entry(cache: Path) -> tuple[Path, Path]:
    jsons = [p for p in cache.glob("bce_grad_*.json")]
    assert len(jsons) == 1, jsons
    return jsons[0], jsons[0].with_suffix(".so")


def _call(**env) -> int:
    done = run_python(CALL, env=env, cwd=os.getcwd())
    assert done.returncode == 0, f"rc {done.returncode}: {done.stderr[-3000:]}"
    return int(done.stdout.split("warnings:")[1])


def _fault(name: str, json_path: Path, so_path: Path) -> None:
    target = so_path if name.startswith("so_") else json_path
    size = target.stat().st_size
    kind = name.split("_", 1)[1]
    if kind == "truncate":
        with open(target, "r+b") as handle:
            handle.truncate(size // 2)
    elif kind == "zero":
        target.write_bytes(b"\0" * size)
    elif kind == "garbage":
        target.write_bytes(np.random.default_rng(0).bytes(size))
    elif kind == "delete":
        target.unlink()
    elif kind == "empty":
        target.write_bytes(b"")
    elif kind == "braces":
        target.write_text("{}")
    elif kind == "other":  # valid JSON of another shape
        meta = json.loads(target.read_text())
        meta["so_sha256"] = "0" * 64
        target.write_text(json.dumps(meta))


FAULTS = ["so_truncate", "so_zero", "so_garbage", "so_delete", "json_truncate", "json_empty",
          "json_garbage", "json_braces", "json_delete", "json_other"]


@pytest.mark.parametrize("fault", FAULTS)
def test_a_damaged_entry_is_rebuilt_with_one_warning(fault, fresh_cache):
    assert _call() == 0
    json_path, so_path = _entry(fresh_cache)
    _fault(fault, json_path, so_path)
    assert _call() == 1
    assert _call() == 0  # healed


def test_damage_after_loading_in_the_same_process_reloads_the_rebuilt_kernel(fresh_cache):
    code = CALL + """
import os, json
from pathlib import Path
from bce_grad.kernel_cache import cache_dir
js = next(p for p in cache_dir().glob("bce_grad_*.json"))
so = js.with_suffix(".so")
with open(so, "r+b") as handle:  # in place, while the process has it open
    handle.truncate(so.stat().st_size // 2)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    assert same_bits(f(g, x, y, w, "mean"), golden(x, y, g, w, "mean", "float32"))
    tmp = so.with_name("replacement")
    tmp.write_bytes(b"not an elf file" * 100)
    os.replace(tmp, so)  # a new file at the same path
    assert same_bits(f(g, x, y, w, "mean"), golden(x, y, g, w, "mean", "float32"))
print("again:", sum(issubclass(c.category, KernelCacheWarning) for c in caught))
"""
    done = run_python(code, cwd=os.getcwd())
    assert done.returncode == 0, done.stderr[-3000:]
    assert "again: 2" in done.stdout


#: Code that kills its own process at one point of a build.
KILLERS = {
    "while_compiling": """
import tvm
def boom(self, path, *a, **k):
    open(path, "wb").write(b"half a kernel")
    os.kill(os.getpid(), signal.SIGKILL)
tvm.runtime.Executable.export_library = boom
""",
    "between_so_and_json": """
import bce_grad.host_backend.build as build
real = build._atomic_write
def atomic(path, write):
    if str(path).endswith(".json"):
        os.kill(os.getpid(), signal.SIGKILL)
    real(path, write)
build._atomic_write = atomic
""",
    "before_json_rename": """
real = os.replace
def replace(src, dst, *a, **k):
    if str(dst).endswith(".json") and "bce_grad_" in str(dst):
        os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst, *a, **k)
os.replace = replace
""",
}


@pytest.mark.parametrize("point", sorted(KILLERS))
def test_a_build_killed_midway_leaves_nothing_that_breaks_the_next_call(point, fresh_cache,
                                                                        tmp_path):
    code = "import os, signal\n" + KILLERS[point] + CALL
    # a killed build cannot remove its temporary object folder: keep it in the test's own
    done = run_python(code, env={"TMPDIR": str(tmp_path)}, cwd=os.getcwd())
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    assert _call() <= 1
    assert kernel_cache.orphans(fresh_cache) == []
    assert not [p for p in fresh_cache.iterdir() if p.name.startswith(".")]
    assert _call() == 0


def test_processes_building_one_kernel_at_once_agree(fresh_cache):
    script = CALL
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=os.getcwd())
             for _ in range(4)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-1500:] for o in outs]
    assert all("warnings: 0" in o[0] for o in outs)
    assert len(list(fresh_cache.glob("bce_grad_*.so"))) == 1


def test_least_recently_used_kernels_go_past_the_cap(fresh_cache, monkeypatch):
    calls = {name: make_call(20 + i, "float32", gshape=g)
             for i, (name, g) in enumerate([("a", ()), ("b", (8,)), ("c", (4, 1))])}

    def run(name):
        x, y, g, w = calls[name]
        assert same_bits(bce_backward(g, x, y, w, "sum"), golden(x, y, g, w, "sum", "float32"))
        time.sleep(0.05)

    run("a")
    entry_a = set(kernel_cache.entries(fresh_cache))
    size = sum(item["bytes"] for item in kernel_cache.entries(fresh_cache).values())
    monkeypatch.setenv("BCE_GRAD_CACHE_MAX_MB", str(2.5 * size / (1 << 20)))
    run("b")
    entry_b = set(kernel_cache.entries(fresh_cache)) - entry_a
    assert len(entry_a) == len(entry_b) == 1
    run("a")  # a is now more recent than b
    so_a = {so: so.stat().st_ino for so in fresh_cache.glob("bce_grad_*.so")
            if any(str(key) in so.name for key in entry_a)}
    run("c")
    found = kernel_cache.entries(fresh_cache)
    assert len(found) == 2
    assert entry_a <= set(found) and not entry_b & set(found)  # b, the least recent, went
    total = sum(item["bytes"] for item in found.values())
    assert total <= kernel_cache.max_bytes()
    run("a")  # still cached: no compile needed, and correct
    assert len(kernel_cache.entries(fresh_cache)) == 2
    assert so_a and all(so.stat().st_ino == ino for so, ino in so_a.items())  # not rebuilt


@pytest.mark.parametrize("value", ["0", "-1", "lots", "nan"])
def test_a_bad_cap_names_the_variable(value, monkeypatch):
    monkeypatch.setenv("BCE_GRAD_CACHE_MAX_MB", value)
    with pytest.raises(ValueError, match="BCE_GRAD_CACHE_MAX_MB"):
        kernel_cache.max_bytes()


def _cli(*argv: str) -> int:
    from bce_grad.tools.commands import cache

    parser = argparse.ArgumentParser()
    cache.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_cache_info_and_clear(fresh_cache, capsys):
    x, y, g, _ = make_call(30, "float16")
    bce_backward(g, x, y)
    (fresh_cache / ".bce_grad_0123abcd.so.999999999.zz").write_bytes(b"orphan")
    assert _cli("cache", "info") == 0
    info = capsys.readouterr().out
    assert str(fresh_cache) in info and "kernels: 1" in info and "orphaned temporary files: 1" in info
    assert _cli("cache", "clear") == 0
    assert "removed 1 kernel" in capsys.readouterr().out
    assert [p for p in fresh_cache.iterdir() if p.name.startswith(("bce_grad_", "."))] == []
    assert _cli("cache", "info") == 0
    assert "kernels: 0" in capsys.readouterr().out
    assert same_bits(bce_backward(g, x, y), golden(x, y, g, None, "mean", "float16"))


def test_unusable_cache_directories_name_the_variable(tmp_path, monkeypatch):
    x, y, g, _ = make_call(31, "float32", gshape=(4, 1))
    a_file = tmp_path / "file"
    a_file.write_text("not a directory")
    for value in ("", "  ", str(a_file), str(a_file / "below")):
        monkeypatch.setenv("BCE_GRAD_CACHE", value)
        with pytest.raises(ValueError, match="BCE_GRAD_CACHE") as err:
            bce_backward(g, x, y)
        assert isinstance(err.value, OpError) and "Traceback" not in str(err.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_cache_directory_names_the_variable(tmp_path, monkeypatch):
    x, y, g, _ = make_call(32, "float32", gshape=(4, 1))
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o555)
    monkeypatch.setenv("BCE_GRAD_CACHE", str(locked))
    with pytest.raises(ValueError, match="BCE_GRAD_CACHE"):
        bce_backward(g, x, y)
