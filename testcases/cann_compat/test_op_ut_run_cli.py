"""``bce-grad op-ut-run``: its usage errors, without CANN's frame."""
from __future__ import annotations

import argparse

import pytest

from bce_grad.tools.commands import op_ut_run


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    op_ut_run.register(parser.add_subparsers())
    return parser.parse_args(["op-ut-run", *argv])


def test_it_takes_op_ut_runs_own_flags_with_their_defaults():
    args = _parse(["--soc_version", "Ascend910A", "--simulator_mode", "pv"])
    assert (args.soc_version, args.simulator_mode, args.test_report_path, args.data_path) == \
        ("Ascend910A", "pv", "./report", "./data")
    assert args.op_test_frame is None and args.impl_path is None


def test_a_missing_soc_version_is_a_usage_error(capsys):
    args = _parse([])
    assert args.func(args) == 2
    assert "Please set soc_version" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--op-test-frame", "--impl-path"])
def test_a_directory_that_is_not_there_is_a_usage_error(tmp_path, capsys, flag):
    args = _parse(["--soc_version", "Ascend910A", flag, str(tmp_path / "missing")])
    try:
        assert args.func(args) == 2
    finally:
        import bce_grad.cann_compat as cann_compat

        cann_compat.uninstall()
    assert "missing" in capsys.readouterr().err
