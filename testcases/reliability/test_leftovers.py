"""Temporary folders made for a run are gone when the run ends.

Before the fix every test session left the UT cases' kernels and data (about 13 MB) in the
temporary folder. (``bench --frameworks``' children are checked in ``testcases/bench``.)
"""
from __future__ import annotations

import tempfile
from pathlib import Path


def test_ut_session_folder_is_removed_when_the_session_ends(tmp_path, monkeypatch):
    from testcases.ut import conftest as ut_conftest

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(ut_conftest, "_OUT", {})  # this session's own folder stays untouched
    cfg = ut_conftest._run_cfg()
    meta = Path(cfg["kernel_meta_path"])
    assert meta.is_relative_to(tmp_path)
    meta.mkdir(parents=True)
    (meta / "kernel.o").write_bytes(b"\0" * 64)
    ut_conftest.pytest_unconfigure(None)
    assert list(tmp_path.iterdir()) == []
    assert ut_conftest._OUT == {}
