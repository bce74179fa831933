"""Temporary folders made for a run are gone when the run ends.

Before the fix every test session left the UT cases' kernels and data (about 13 MB) in the
temporary folder. (``bench --frameworks``' children are checked in ``testcases/bench``.)
"""
from __future__ import annotations

import tempfile

import pytest


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """An empty temporary folder for this process and the children it starts."""
    path = tmp_path / "tmp"
    path.mkdir()
    monkeypatch.setenv("TMPDIR", str(path))
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return path


def test_ut_session_folder_is_removed_when_the_session_ends(private_tmp, monkeypatch):
    from testcases.ut import conftest as ut_conftest

    monkeypatch.setattr(ut_conftest, "_OUT", {})  # this session's own folder stays untouched
    cfg = ut_conftest._run_cfg()
    assert cfg["kernel_meta_path"].startswith(str(private_tmp))
    meta = private_tmp.joinpath(*cfg["kernel_meta_path"][len(str(private_tmp)) + 1:].split("/"))
    meta.mkdir(parents=True)
    (meta / "kernel.o").write_bytes(b"\0" * 64)
    ut_conftest.pytest_unconfigure(None)
    assert list(private_tmp.iterdir()) == []
    assert ut_conftest._OUT == {}

