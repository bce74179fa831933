"""Building the runtime from source, and ``bce-grad aot`` writing a package the runtime serves."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from bce_grad.host_backend.errors import OpError
from bce_grad.runtime import kernel_set


def test_missing_compiler_names_what_to_install(monkeypatch, tmp_path):
    from bce_grad.runtime import build

    monkeypatch.setenv("CXX", "g++-that-does-not-exist")
    build.compiler.cache_clear()
    try:
        with pytest.raises(OpError, match=r"\[E61001\] the native runtime is built from source on "
                           r"first use and needs a C\+\+17 compiler, but \[g\+\+-that-does-not-exist\]"
                           r" was not found on PATH; install g\+\+ \(Debian/Ubuntu: apt-get install"):
            build.library_path(tmp_path)
    finally:
        build.compiler.cache_clear()
    assert not list(tmp_path.iterdir())


def test_library_is_cached_by_content(runtime_library):
    from bce_grad.runtime import build

    path = Path(runtime_library)
    assert path.name == f"libbce_grad_runtime-{build.build_key()}.so"
    assert build.library_path() == path  # a second call reuses it
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".build.")]


@pytest.mark.parametrize("inputs, rank, count", [(3, 1, 4 + 1), (3, 2, 4 + 12 + 1),
                                                (4, 3, 8 + 56 + 392 + 1)])
def test_canonical_pattern_counts(inputs, rank, count):
    keys = kernel_set.canonical_patterns(inputs, rank)
    assert len(keys) == len(set(keys)) == count
    assert set(kernel_set.common_patterns(inputs, rank)) <= set(keys)


def test_aot_cli_writes_a_package_the_runtime_serves(tmp_path, capsys, runtime_library):
    from bce_grad.golden import binary_cross_entropy_grad_golden as golden
    from bce_grad.runtime import Runtime
    from bce_grad.tools.commands import aot

    parser = argparse.ArgumentParser(prog="bce-grad")
    aot.register(parser.add_subparsers())
    argv = ["aot", "--soc", "Ascend910B1", "--out", str(tmp_path), "--max-rank", "1",
            "--dtypes", "float32", "--weight", "without", "--jobs", "1"]
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    err = capsys.readouterr().err
    assert "aot: 5 kernels for Ascend910B1" in err and "aot: [5/5]" in err
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    from bce_grad.tools.deploy.op_info import supported_dtypes

    assert manifest["op_info"]["x"] == list(supported_dtypes("ascend910b", "x"))  # one source
    assert sorted(k["pattern"] for k in manifest["kernels"]) == ["1_1_1", "d_1_1", "d_1_d",
                                                                 "d_d_1", "d_d_d"]
    with Runtime(tmp_path, eager=True, library=runtime_library) as rt:
        assert rt.kernel_count == 5
        x = np.linspace(0.1, 0.9, 10, dtype=np.float32)
        g = np.array(2.0, np.float32)
        got = rt.backward(g, x, x[::-1].copy(), None, "mean")
        np.testing.assert_array_equal(got, golden(x=x, y=x[::-1], grad_output=g, weight=None, reduction="mean", compute_dtype="float32", out_dtype="float32"))
    args = parser.parse_args(argv)  # a second run reuses every kernel
    assert args.func(args) == 0
    assert "(5 reused, 0 to compile" in capsys.readouterr().err
