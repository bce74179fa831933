"""What the op proto checks need from the machine: g++, nm, cmake and the C++ standard.

A missing tool skips the check that needs it, naming the tool, except under CI
(``CI=true``), where it fails: CI must run these checks, not skip them quietly.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[2]
OP_PROTO = REPO / "op_proto"
OP_PROTO_SOURCE = OP_PROTO / "binary_cross_entropy_grad.cc"


def unavailable(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail with it when the environment variable CI is ``true``."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true, so this check must run: {reason}", pytrace=False)
    pytest.skip(reason)


def require_tool(name: str) -> str:
    """Return the path of the program ``name``, or skip (fail under CI) naming it."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not on PATH")
    return path


def cxx_standard() -> str:
    """The ``-std=`` flag for the standard that ``op_proto/CMakeLists.txt`` declares.

    Raises
    ------
    ValueError
        If CMakeLists.txt has no ``set(CMAKE_CXX_STANDARD <n>)``.
    """
    text = (OP_PROTO / "CMakeLists.txt").read_text()
    found = re.search(r"^\s*set\(\s*CMAKE_CXX_STANDARD\s+(\d+)\s*\)", text, re.MULTILINE)
    if found is None:
        raise ValueError("op_proto/CMakeLists.txt has no set(CMAKE_CXX_STANDARD <n>)")
    return f"-std=c++{found.group(1)}"


def run(command: list[str], stdin: str = "") -> str:
    """Run ``command`` and return its stdout; on a non-zero exit, fail showing its output."""
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command)}\nexit {done.returncode}\n{done.stdout}{done.stderr}",
                    pytrace=False)
    return done.stdout
