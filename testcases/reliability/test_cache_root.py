"""One cache root (issue 25 item 5, issue 26 item 2): ``$BCE_GRAD_CACHE`` holds everything the
project writes at run time, in named subfolders; ``bce-grad cache info`` and ``clear`` cover all
of them (``clear`` leaves what a process is building); folders are created private and a folder
others can write is refused, naming it."""
from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bce_grad.api import binary_cross_entropy_backward as bce_backward
from bce_grad.host_backend.errors import OpError

from .cases import make_call

SUBFOLDERS = ("kernels", "packages", "runtime", "torch", "tensorflow", "mindspore")
KERNEL = "bce_grad_" + "ab" * 16
#: Holds the build locks named in argv until a line arrives on stdin.
HOLD = """
import contextlib, sys
from pathlib import Path
from bce_grad.runtime import build_guard
with contextlib.ExitStack() as stack:
    for path in sys.argv[1:]:
        stack.enter_context(build_guard.lock(Path(path), "a test"))
    print("held", flush=True)
    sys.stdin.readline()
"""


def _cli(*argv: str) -> int:
    from bce_grad.tools.commands import cache

    parser = argparse.ArgumentParser()
    cache.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return args.func(args)


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "root"
    monkeypatch.setenv("BCE_GRAD_CACHE", str(path))
    return path


def _populate(root: Path) -> None:
    """One artefact in every subfolder, as the project lays them out, and two things it did not write."""
    kernels = root / "kernels"
    kernels.mkdir(parents=True)
    for suffix in (".so", ".o", ".json", ".lock"):
        (kernels / f"{KERNEL}{suffix}").write_bytes(b"k" * 1000)
    for name in ("runtime", "torch", "tensorflow", "mindspore"):
        lib = root / name / f"libbce_grad_{name}-0123456789ab.so"
        lib.parent.mkdir()
        lib.write_bytes(b"l" * 3000)
        (lib.parent / f"{lib.name}.sha256").write_text("0" * 64 + "\n")
        (lib.parent / f"{lib.name}.lock").write_text("1\n")
    package = root / "packages" / "ascend910b-0123456789abcdef"
    (package / "kernels").mkdir(parents=True)
    (package / "manifest.json").write_text("{}")
    (package / "kernels" / "k.so").write_bytes(b"p" * 5000)
    (root / "packages" / f"{package.name}.lock").write_text("1\n")
    (root / "notes.txt").write_text("the user's, not ours")
    (root / "other").mkdir()
    (root / "other" / "keep.txt").write_text("not ours either")


def _artefacts(root: Path, name: str) -> list[str]:
    return sorted(p.name for p in (root / name).iterdir())


def test_every_artefact_lives_in_a_named_subfolder_of_the_one_root(root):
    from bce_grad import cache_root
    from bce_grad.runtime import adapter, build, packages
    from bce_grad import kernel_cache

    assert cache_root.root() == root
    assert kernel_cache.cache_dir() == root / "kernels"
    assert packages.packages_root() == root / "packages"
    assert build.cache_root() == root / "runtime"
    for framework in ("torch", "tensorflow", "mindspore"):
        assert adapter.framework_cache_root(framework) == root / framework
    assert cache_root.SUBFOLDERS == SUBFOLDERS


def test_the_default_root_is_xdg_cache_home_then_home(monkeypatch, tmp_path):
    from bce_grad import kernel_cache

    monkeypatch.delenv("BCE_GRAD_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert kernel_cache.cache_dir() == tmp_path / "xdg" / "bce-grad" / "kernels"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert kernel_cache.cache_dir() == tmp_path / "home" / ".cache" / "bce-grad" / "kernels"


def test_cache_info_and_clear_cover_every_subfolder_and_nothing_else(root, capsys):
    _populate(root)
    assert _cli("cache", "info") == 0
    info = capsys.readouterr().out
    assert f"directory: {root}" in info
    for name in SUBFOLDERS:
        line = next(ln for ln in info.splitlines() if ln.startswith(f"{name}: "))
        assert line.startswith(f"{name}: 1 ") and str(root / name) in line, line
        assert "0.00 MiB" in line  # each holds a few KiB: counted, not more
    assert "total: 0.02 MiB" in info  # 21,272 bytes in the subfolders; the user's files not counted

    assert _cli("cache", "clear") == 0
    out = capsys.readouterr().out
    assert "removed 1 kernel(s) and 5 other entries" in out, out
    for name in SUBFOLDERS:
        assert _artefacts(root, name) == [], name
        assert (root / name).is_dir()
    assert (root / "notes.txt").read_text() == "the user's, not ours"
    assert (root / "other" / "keep.txt").is_file()
    assert _cli("cache", "info") == 0
    info = capsys.readouterr().out
    assert all(f"{name}: 0 " in info for name in SUBFOLDERS), info


def test_clear_leaves_what_another_process_holds_the_build_lock_of(root, capsys):
    _populate(root)
    runtime_lib = next((root / "runtime").glob("*.so"))
    locks = [root / "runtime" / f"{runtime_lib.name}.lock", root / "kernels" / f"{KERNEL}.lock"]
    holder = subprocess.Popen([sys.executable, "-c", HOLD, *map(str, locks)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert _cli("cache", "clear") == 1
        out = capsys.readouterr().out
        assert f"left runtime/{runtime_lib.name}: process {holder.pid} holds its build lock" in out
        assert f"left kernels/{KERNEL}: process {holder.pid}" in out
        assert runtime_lib.is_file() and (root / "runtime" / f"{runtime_lib.name}.sha256").is_file()
        assert (root / "kernels" / f"{KERNEL}.so").is_file()
        for name in ("packages", "torch", "tensorflow", "mindspore"):
            assert _artefacts(root, name) == [], name
    finally:
        holder.communicate("done\n", timeout=60)
    assert _cli("cache", "clear") == 0
    capsys.readouterr()
    assert _artefacts(root, "runtime") == [] and _artefacts(root, "kernels") == []


def test_cache_folders_are_created_private_whatever_the_umask(root):
    from bce_grad import kernel_cache

    old = os.umask(0)
    try:
        kernels = kernel_cache.writable_cache_dir()
    finally:
        os.umask(old)
    assert kernels == root / "kernels"
    assert (root.stat().st_mode & 0o777, kernels.stat().st_mode & 0o777) == (0o700, 0o700)


def _make_unsafe(path: Path, how: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if how == "world-writable":
        path.chmod(0o777)
    elif how == "group-writable":
        path.chmod(0o770)
    else:
        os.chown(path, 65534, 65534)


@pytest.mark.parametrize("how", ["world-writable", "group-writable", pytest.param(
    "another user's", marks=pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root"))])
@pytest.mark.parametrize("where", ["root", "kernels"])
def test_a_kernel_cache_folder_others_can_write_is_refused_naming_it(root, where, how):
    x, y, g, _ = make_call(41, "float32")
    unsafe = root if where == "root" else root / "kernels"
    root.mkdir(mode=0o700)
    _make_unsafe(unsafe, how)
    with pytest.raises(ValueError, match="BCE_GRAD_CACHE") as err:
        bce_backward(g, x, y)
    text = str(err.value)
    assert isinstance(err.value, OpError) and err.value.code == "E80000"
    assert f"[{unsafe}]" in text
    assert ("user id 65534" in text) if how == "another user's" else (f"chmod go-w {unsafe}" in text)
    assert not list(root.rglob("bce_grad_*.so"))  # nothing was built into it


def test_a_runtime_folder_others_can_write_is_refused_before_anything_is_built(root, monkeypatch):
    from bce_grad.runtime import build

    def no_build(out):
        raise AssertionError(f"built {out} into a folder others can write")

    monkeypatch.setattr(build, "_compile", no_build)
    root.mkdir(mode=0o700)
    _make_unsafe(root / "runtime", "world-writable")
    with pytest.raises(OpError, match=rf"E80000.*\[{root / 'runtime'}\].*chmod go-w"):
        build.library_path()
    with contextlib.suppress(FileNotFoundError):
        assert not list((root / "runtime").glob("*.so"))
