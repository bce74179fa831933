"""Suite-wide pytest setup: a private kernel cache and kernel_meta per test session."""
from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_SESSION_DIR: list[str] = []


#: Set by the main pytest process to its session directory, for its pytest-xdist workers.
SESSION_ENV = "BCE_GRAD_TEST_SESSION_DIR"


def pytest_configure(config: pytest.Config) -> None:
    """Point the kernel cache and kernel_meta at a fresh session directory, always: the suite
    never writes into a user's real cache, whatever ``BCE_GRAD_CACHE`` says.

    pytest-xdist workers use their main process's directory (they inherit its environment), so
    a kernel one worker builds serves the others, and the cache meets concurrent builders as
    it does in use; the main process removes it at the end."""
    del config
    inherited = os.environ.get(SESSION_ENV)
    if os.environ.get("PYTEST_XDIST_WORKER") and inherited and os.path.isdir(inherited):
        base = inherited
    else:
        base = tempfile.mkdtemp(prefix="bce_grad_tests_")
        _SESSION_DIR.append(base)
        os.environ[SESSION_ENV] = base
    os.environ["BCE_GRAD_CACHE"] = os.path.join(base, "cache")
    os.environ["BCE_GRAD_KERNEL_META"] = os.path.join(base, "kernel_meta")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session directory."""
    del config
    for path in _SESSION_DIR:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def fp16_only_soc():
    """A SoC-table entry whose vector unit lacks float32, like the SoCs CANN's fp16 branch targets."""
    from bce_grad.host_backend.soc_table import add_soc, remove_soc

    add_soc("AscendTestFp16", ["AscendTestFp16V1"], fp32_vector=False, bf16=False)
    yield "AscendTestFp16V1"
    remove_soc("AscendTestFp16")
