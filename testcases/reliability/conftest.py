"""Reliability tests: threads, processes, damaged caches, odd inputs.

Hypothesis profiles: ``ci`` (default, 2,000 examples) and ``thorough`` (10,000),
chosen with ``BCE_GRAD_HYPOTHESIS_PROFILE``.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, derandomize=False, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", max_examples=2000, **_COMMON)
settings.register_profile("thorough", max_examples=10000, **_COMMON)
settings.load_profile(os.environ.get("BCE_GRAD_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch) -> Path:
    """An empty kernel cache for this test only: a fresh cache root in the environment
    (``$BCE_GRAD_CACHE``); returns its ``kernels`` folder, where the kernels go."""
    path = tmp_path / "cache"
    monkeypatch.setenv("BCE_GRAD_CACHE", str(path))
    return path / "kernels"


def run_python(code: str, env: dict | None = None, timeout: float = 300,
               cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with this process's environment plus ``env``."""
    full = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)
