"""pytest plugin: every ``ut_case`` case of ``test_*_impl.py`` becomes one pytest item.

Items are named ``<file>::<soc>::<case_name>``. The case files replace pytest's
own module collector (they hold no pytest tests), so each file is collected once.
SoCs come from ``$BCE_GRAD_UT_SOCS`` (comma list; default: the five UT SoCs).
Kernels and data go to one temporary directory per session.
"""
from __future__ import annotations

import fnmatch
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from bce_grad.tools.ut_frame import ensure_op_test_frame

ensure_op_test_frame()

from testcases.ut.bce_grad_ut_helpers import ALL_SOCS  # noqa: E402
from bce_grad.tools.ut_frame import is_host_frame  # noqa: E402
from bce_grad.tools.ut_frame.ut.loader import CASE_FILE_PATTERN, load_ut_case  # noqa: E402

_OUT: dict[str, dict] = {}


def _run_cfg() -> dict:
    """op_test_frame's ``run_cfg``, with the host's ``kernel_meta_path``: one folder per session,
    removed when the session ends (:func:`pytest_unconfigure`)."""
    if "cfg" not in _OUT:
        root = Path(tempfile.mkdtemp(prefix="bce_grad_ut_"))
        _OUT["root"] = root
        _OUT["cfg"] = {"simulator_mode": None, "simulator_lib_path": None,
                       "data_dump_path": str(root / "data"),
                       "kernel_meta_path": str(root / "kernel_meta")}
    return _OUT["cfg"]


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session's kernel and data folder (about 13 MB after the five SoCs' cases)."""
    del config
    root = _OUT.pop("root", None)
    _OUT.pop("cfg", None)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


def _socs() -> list[str]:
    value = os.environ.get("BCE_GRAD_UT_SOCS", "")
    return [s.strip() for s in value.split(",") if s.strip()] or list(ALL_SOCS)


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector):
    """Collect UT case files with :class:`UTCaseFile` instead of pytest's Module."""
    if fnmatch.fnmatch(module_path.name, CASE_FILE_PATTERN):
        return UTCaseFile.from_parent(parent, path=module_path)
    return None


class UTCaseFile(pytest.File):
    """One case file: a collector per SoC that has cases."""

    def collect(self):
        ut_case = load_ut_case(self.path)
        for soc in _socs():
            if ut_case.get_all_test_case_name(soc):
                yield UTSoc.from_parent(self, name=soc, ut_case=ut_case)


class UTSoc(pytest.Collector):
    """The cases of one file that run on one SoC (op_test_frame's public API only)."""

    def __init__(self, *, ut_case, **kwargs) -> None:
        super().__init__(**kwargs)
        self.ut_case = ut_case

    def collect(self):
        for info in self.ut_case.get_all_test_case_name(self.name):
            yield UTCaseItem.from_parent(self, name=info["case_name"], info=info)


class UTCaseFailed(Exception):
    """A UT case that did not meet its expectation."""


class UTCaseItem(pytest.Item):
    """One ut_case case on one SoC, run through ``ut_case.run_case``."""

    def __init__(self, *, info, **kwargs) -> None:
        super().__init__(**kwargs)
        self.info = info

    def runtest(self) -> None:
        if self.info["case_usage"] == "precision" and not is_host_frame():
            pytest.skip("CANN's op_test_frame runs precision cases on a simulator only "
                        "(op_ut_run --simulator_mode); none is configured")
        report = self.ut_case.run_case(self.parent.name, [self.name], run_cfg=_run_cfg())
        (case_rpt,) = report.get_case_rpt_list()
        if case_rpt.status != "success":
            stages = case_rpt.to_json_obj()["trace_detail"]["stage_result"]
            traces = "".join(s.get("err_trace") or "" for s in stages)
            raise UTCaseFailed(f"{case_rpt.err_msg}\n{traces}".rstrip())

    @property
    def ut_case(self):
        """The case file's ``ut_case``."""
        return self.parent.ut_case

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, UTCaseFailed):
            return f"{self.info['case_usage']} case {self.name} on {self.parent.name}:\n" \
                   f"{excinfo.value}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, f"{self.parent.name}::{self.name}"
