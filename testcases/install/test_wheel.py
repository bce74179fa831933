"""A built wheel, installed into a fresh venv outside the repository, works like the checkout.

The wheel is built from this checkout (``pip wheel --no-deps``), installed with its
pinned dependencies (pip's cache serves them after ``.ci/run``'s own install) into a
new venv in a temporary directory, and run from another temporary directory, so no
file of the repository can be reached by a relative path.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: The only top-level name the install may add to site-packages (impl/ is bce_grad._impl).
ALLOWED_TOP_LEVEL = {"bce_grad"}

pytestmark = pytest.mark.slow


def _run(argv, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv python, a working directory outside the repo, environment)."""
    root = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
          "-w", str(root / "dist"), str(REPO)])
    wheels = list((root / "dist").glob("bce_grad-*.whl"))
    assert len(wheels) == 1, wheels
    _run([sys.executable, "-m", "venv", str(root / "venv")])
    python = root / "venv" / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
          str(wheels[0])])
    work = root / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["BCE_GRAD_CACHE"] = str(root / "cache")
    return python, work, env


def test_site_packages_holds_only_project_names(installed):
    python, work, env = installed
    code = ("import importlib.metadata as m, json; "
            "print(json.dumps(sorted({f.parts[0] for f in m.files('bce-grad')})))")
    names = set(json.loads(_run([str(python), "-c", code], cwd=work, env=env).stdout))
    names = {n for n in names if n != ".." and not n.endswith(".dist-info")}
    assert names == ALLOWED_TOP_LEVEL


def test_package_data_and_version(installed):
    python, work, env = installed
    code = ("import bce_grad, bce_grad.resources as r; "
            "print(bce_grad.__version__, r.op_info_dir().is_dir(), "
            "(r.package_dir('bce_grad') / 'py.typed').is_file(), bce_grad.__file__)")
    version, has_info, typed, where = _run([str(python), "-c", code], cwd=work, env=env).stdout.split()
    assert has_info == typed == "True"
    assert str(REPO) not in where, "imported from the checkout, not the wheel"
    out = _run([str(python), "-m", "bce_grad", "--version"], cwd=work, env=env).stdout
    assert out.strip() == f"bce-grad {version}"


def test_demo_runs_bit_exact(installed):
    python, work, env = installed
    done = _run([str(python), "-m", "bce_grad", "demo", "--shape", "8,64", "--soc", "Ascend910A"],
                cwd=work, env=env)
    assert "all results match the golden bit for bit" in done.stdout


def test_opinfo_writes_every_soc(installed):
    python, work, env = installed
    _run([str(python), "-m", "bce_grad", "opinfo", "--out", "oi"], cwd=work, env=env)
    written = sorted(p.name for p in (work / "oi").glob("*/aic-*-ops-info.json"))
    assert written == sorted(p.name for p in (REPO / "op_info_cfg/compiled").glob("*.json"))
    for path in (work / "oi").glob("*/aic-*-ops-info.json"):
        assert path.read_bytes() == (REPO / "op_info_cfg/compiled" / path.name).read_bytes()


def test_package_builds_the_same_opp(installed):
    python, work, env = installed
    _run([str(python), "-m", "bce_grad", "package", "--out", "pk"], cwd=work, env=env)
    tree = work / "pk" / "bce_grad_opp_customize"
    impl = tree / "vendors/customize/op_impl/ai_core/tbe/customize_impl/binary_cross_entropy_grad.py"
    assert impl.read_bytes() == (REPO / "impl/binary_cross_entropy_grad.py").read_bytes()
    proto = tree / "vendors/customize/op_proto/binary_cross_entropy_grad.cc"
    assert proto.read_bytes() == (REPO / "op_proto/binary_cross_entropy_grad.cc").read_bytes()
    assert (tree / "install.sh").stat().st_mode & 0o111
