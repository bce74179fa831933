"""The op proto is real CANN C++: it compiles against CANN's public graph headers.

The headers come from the pinned torch-npu wheel (see ``cann_headers.py``). The object file
must need nothing but the C++ runtime and public ``ge::`` functions declared in those headers.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .toolchain import OP_PROTO, OP_PROTO_SOURCE, cxx_standard, require_tool, run

# Undefined symbols that the C++ runtime, libc and the linker provide, not CANN.
RUNTIME_SYMBOL = re.compile(
    r"^(std::|operator (new|delete)\(|vtable for __cxxabiv1::|typeinfo for |__cxa_|_Unwind_"
    r"|__gxx_personality_v0$|__dso_handle$|__libc_single_threaded$|__stack_chk_fail$"
    r"|_GLOBAL_OFFSET_TABLE_$|(mem|str)[a-z]+$)")

# What the op proto must call: REG_OP's factory, the InferShape registration and its accessors.
REQUIRED_GE_FUNCTIONS = {
    "ge::OperatorCreatorRegister::OperatorCreatorRegister",
    "ge::InferShapeFuncRegister::InferShapeFuncRegister",
    "ge::Operator::GetInputDescByName",
    "ge::Operator::GetOutputDescByName",
    "ge::Operator::UpdateOutputDesc",
    "ge::TensorDesc::SetShapeRange",
    "ge::Shape::GetDims",
}


@pytest.fixture(scope="module")
def undefined_symbols(cann_headers: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Compile the op proto to an object file with -Wall -Werror; its undefined symbols."""
    gxx, nm = require_tool("g++"), require_tool("nm")
    obj = tmp_path_factory.mktemp("op_proto") / "binary_cross_entropy_grad.o"
    run([gxx, cxx_standard(), "-Wall", "-Werror", "-fPIC", "-c", "-I", str(OP_PROTO / "inc"),
         "-I", str(cann_headers), str(OP_PROTO_SOURCE), "-o", str(obj)])
    listing = run([nm, "-C", "--undefined-only", str(obj)])
    return [line.split(" U ", 1)[1] for line in listing.splitlines() if " U " in line]


def _cmake_or_skip() -> str:
    """cmake's path; a missing cmake skips even under CI (the compile check above still runs)."""
    path = shutil.which("cmake")
    if path is None:
        pytest.skip("cmake is not on PATH")
    return path


def _qualified_name(symbol: str) -> str:
    """``ge::Shape::GetDims() const`` -> ``ge::Shape::GetDims``."""
    return symbol.split("(", 1)[0]


def _class_bodies(text: str, name: str) -> list[str]:
    """The text between the braces of each ``class name {...}`` (or struct) in ``text``."""
    opening = re.compile(rf"\b(class|struct)\b[^;{{}}]*\b{re.escape(name)}\s*(:[^;{{]*)?\{{")
    bodies = []
    for found in opening.finditer(text):
        depth, end = 1, found.end()
        while depth and end < len(text):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        bodies.append(text[found.end():end])
    return bodies


def _declared(headers: Path, qualified: str) -> bool:
    """Whether a header under graph/ declares ``qualified``: a member inside its class's body."""
    *scopes, name = qualified.split("::")
    member = re.compile(rf"[\s~*&]{re.escape(name)}\s*\(")
    for header in sorted((headers / "graph").glob("*.h")):
        text = header.read_text(errors="replace")
        bodies = [text] if scopes == ["ge"] else _class_bodies(text, scopes[-1])
        if any(member.search(body) for body in bodies):
            return True
    return False


def test_only_runtime_and_ge_symbols_are_undefined(undefined_symbols: list[str]) -> None:
    foreign = [s for s in undefined_symbols
               if not s.startswith("ge::") and not RUNTIME_SYMBOL.match(s)]
    assert not foreign, f"the op proto needs symbols outside ge:: and the C++ runtime: {foreign}"


def test_ge_symbols_are_declared_in_public_headers(undefined_symbols: list[str],
                                                   cann_headers: Path) -> None:
    ge_names = {_qualified_name(s) for s in undefined_symbols if s.startswith("ge::")}
    missing = REQUIRED_GE_FUNCTIONS - ge_names
    assert not missing, f"the object file does not call {sorted(missing)}; got {sorted(ge_names)}"
    undeclared = sorted(n for n in ge_names if not _declared(cann_headers, n))
    assert not undeclared, f"not declared in {cann_headers}/graph: {undeclared}"


def test_cmake_builds_the_compile_only_target(cann_headers: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    cmake = _cmake_or_skip()
    monkeypatch.delenv("ASCEND_HOME_PATH", raising=False)
    build = tmp_path / "build"
    run([cmake, "-S", str(OP_PROTO), "-B", str(build), f"-DCANN_HEADERS={cann_headers}"])
    run([cmake, "--build", str(build)])
    objects = list(build.rglob("binary_cross_entropy_grad.cc.o"))
    assert len(objects) == 1, f"expected one object file under {build}, found {objects}"
    assert not list(build.rglob("*.so")), "the compile-only target must not link a library"


def test_cmake_without_cann_names_both_options(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    cmake = _cmake_or_skip()
    monkeypatch.delenv("ASCEND_HOME_PATH", raising=False)
    done = subprocess.run([cmake, "-S", str(OP_PROTO), "-B", str(tmp_path / "build")],
                          capture_output=True, text=True, check=False)
    assert done.returncode != 0
    message = " ".join((done.stdout + done.stderr).split())
    assert "ASCEND_CANN_PACKAGE_PATH" in message and "CANN_HEADERS" in message, message
