"""What the framework adapters share (``bce_grad.runtime.adapter``), checked once per adapter."""
from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("framework", ["torch", "tensorflow", "mindspore"])
def test_no_compiler_is_a_clear_error(framework, monkeypatch, tmp_path):
    """A missing C++ compiler names what to install, and leaves no file behind. Building needs
    only the compiler, not the framework's import, for MindSpore; torch and TensorFlow read
    their build flags from the installed framework."""
    if framework != "mindspore":
        pytest.importorskip(framework, reason=f"{framework} is not installed")
    from bce_grad.runtime import build

    adapter_build = importlib.import_module(f"bce_grad.{framework}._build")
    monkeypatch.setenv("CXX", "no-such-c++-compiler")
    build.compiler.cache_clear()
    try:
        with pytest.raises(RuntimeError, match=r"^\[E61001\] .*needs a C\+\+17 compiler, but "
                           r"\[no-such-c\+\+-compiler\] was not found on PATH; install g\+\+"):
            adapter_build.library_path(tmp_path)
    finally:
        build.compiler.cache_clear()
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("framework", ["torch", "tensorflow", "mindspore"])
def test_library_key_follows_the_shared_header(framework, monkeypatch, tmp_path):
    """The library's cache key covers ``bce_grad_adapter.h``: a changed header builds afresh."""
    if framework != "mindspore":
        pytest.importorskip(framework, reason=f"{framework} is not installed")
    from bce_grad.runtime import adapter

    adapter_build = importlib.import_module(f"bce_grad.{framework}._build")
    names = []
    monkeypatch.setattr(adapter.runtime_build, "build_once", lambda path, make: names.append(path.name))
    adapter_build.library_path(tmp_path)
    header = tmp_path / "include"
    header.mkdir()
    for name in ("bce_grad_runtime.h", "bce_grad_adapter.h"):
        (header / name).write_bytes((adapter.runtime_build.INCLUDE_DIR / name).read_bytes())
    (header / "bce_grad_adapter.h").write_text("// changed\n", encoding="utf-8")
    monkeypatch.setattr(adapter.runtime_build, "INCLUDE_DIR", header)
    adapter_build.library_path(tmp_path)
    assert len(set(names)) == 2, names
