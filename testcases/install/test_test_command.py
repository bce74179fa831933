"""``tools/run_tests.sh``, the README's test command, run against a stand-in ``python``.

The stand-in records each command line and exits with ``STUB_RC``, so these tests check what
the script asks pytest to do and how it reports the result, without running the suite.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "run_tests.sh"


def _run(tmp_path: Path, *args: str, workers: str | None = None, rc: int = 0):
    """Run the script with a stand-in python; returns (exit code, stderr, recorded command lines)."""
    stub_dir = tmp_path / "bin"
    stub_dir.mkdir(exist_ok=True)
    stub = stub_dir / "python"
    stub.write_text('#!/bin/sh\nprintf "%s\\n" "$*" >> "$STUB_LOG"\nexit "${STUB_RC:-0}"\n')
    stub.chmod(0o755)
    log = tmp_path / "calls.log"
    log.write_text("")
    env = {k: v for k, v in os.environ.items() if k != "BCE_GRAD_TEST_WORKERS"}
    env.update(PATH=f"{stub_dir}{os.pathsep}{env['PATH']}", STUB_LOG=str(log), STUB_RC=str(rc))
    if workers is not None:
        env["BCE_GRAD_TEST_WORKERS"] = workers
    done = subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True,
                          timeout=60)
    return done.returncode, done.stderr, log.read_text().splitlines()


@pytest.mark.skipif(sys.platform == "win32", reason="a bash script")
@pytest.mark.parametrize("workers, spread", [(None, "-n auto"), ("3", "-n 3"), ("0", None)])
def test_every_run_spreads_over_the_workers_asked_for(tmp_path, workers, spread):
    code, _, calls = _run(tmp_path, "-q", "testcases/cli", workers=workers)
    assert code == 0
    assert len(calls) == 3  # the suite, then testcases/operator under two portable CPUs
    assert calls[0].startswith("-m pytest") and calls[0].endswith("-q testcases/cli")
    assert all(c.endswith("testcases/operator") for c in calls[1:])
    for call in calls:
        if spread is None:
            assert " -n " not in f" {call} "  # one process, no pytest-xdist needed
        else:
            assert f" {spread} " in f" {call} "


@pytest.mark.skipif(sys.platform == "win32", reason="a bash script")
@pytest.mark.parametrize("rc, message", [(1, None), (5, "collected no tests")])
def test_a_failed_or_empty_run_fails_the_command(tmp_path, rc, message):
    code, stderr, calls = _run(tmp_path, rc=rc)
    assert code != 0
    assert len(calls) == 3  # every run still runs
    if message:
        assert message in stderr


@pytest.mark.skipif(sys.platform == "win32", reason="a bash script")
def test_portable_reruns_keep_pytests_summary_line(tmp_path):
    # setup.cfg's addopts already holds -q; a second -q (-qq) drops the "N passed" summary
    _, _, calls = _run(tmp_path)
    for call in calls[1:]:
        assert " -q " not in f" {call} ", call
