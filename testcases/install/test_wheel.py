"""A built wheel, installed into a fresh venv outside the repository, works like the checkout.

The wheel is built from this checkout (``pip wheel --no-deps``), installed with its
pinned dependencies (pip's cache serves them after ``.ci/run``'s own install) into a
new venv in a temporary directory, and run from another temporary directory, so no
file of the repository can be reached by a relative path.
"""
from __future__ import annotations

import json
import os
import shutil
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


def _bare(python: Path, env: dict, cache_home: Path) -> dict:
    """The environment of a machine with no C/C++ compiler: PATH is the venv's bin alone (no
    gcc, g++, cc or c++ can be found), no CXX/CC, and a fresh cache under ``cache_home``."""
    bare = {k: v for k, v in env.items() if k not in ("CXX", "CC")}
    bare["PATH"] = str(python.parent)
    bare["BCE_GRAD_CACHE"] = str(cache_home / "cache")
    bare["XDG_CACHE_HOME"] = str(cache_home / "xdg")
    return bare


def _files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


def test_the_wheel_is_binary_and_holds_the_prebuilt_parts(installed):
    python = installed[0]
    (wheel,) = (python.parents[2] / "dist").glob("bce_grad-*.whl")
    tags = wheel.stem.split("-")[-3:]
    assert tags[:2] == ["py3", "none"] and tags[2].startswith("manylinux_"), wheel.name
    code = ("import json, bce_grad.runtime.prebuilt as p; print(json.dumps([str(p.runtime_library()), "
            "sorted(d.name for d in (p.PREBUILT_DIR / 'packages').iterdir())]))")
    lib, levels = json.loads(_run([str(python), "-c", code], cwd=installed[1],
                                  env=installed[2]).stdout)
    assert lib.endswith("bce_grad/_prebuilt/runtime/libbce_grad_runtime.so")
    assert levels == ["x86-64-v2", "x86-64-v3", "x86-64-v4"]


def test_a_machine_without_a_compiler_runs_everything_with_zero_compiles(installed, tmp_path):
    python, work, env = installed
    bare = _bare(python, env, tmp_path)
    for name in ("gcc", "g++", "cc", "c++"):
        assert shutil.which(name, path=bare["PATH"]) is None, name
    demo = _run([str(python), "-m", "bce_grad", "demo", "--shape", "64,128"], cwd=work, env=bare)
    assert "all results match the golden bit for bit" in demo.stdout
    code = """if True:
        import numpy as np, bce_grad
        from bce_grad.runtime import Runtime, default_package
        rng = np.random.default_rng(7)
        x = rng.uniform(0.02, 0.98, (300, 257)).astype(np.float32)
        y = rng.uniform(0, 1, (300, 257)).astype(np.float32)
        g = rng.standard_normal((300, 1)).astype(np.float32)
        want = bce_grad.binary_cross_entropy_grad_golden(x=x, y=y, grad_output=g,
                                                          compute_dtype="float32")
        api = bce_grad.binary_cross_entropy_backward(g, x, y)
        native = Runtime(default_package()).backward(g, x, y)
        assert api.tobytes() == want.tobytes() and native.tobytes() == want.tobytes()
        print("same bits")
    """
    assert _run([str(python), "-c", code], cwd=work, env=bare).stdout.strip() == "same bits"
    assert _files_under(tmp_path) == [], "something was compiled or cached"
    assert not (work / "kernel_meta").exists()


def test_framework_adapters_from_the_wheel_compile_nothing(installed, tmp_path):
    """The wheel, unpacked onto this environment's frameworks (the ones it was built beside),
    with no compiler on PATH: each installed framework's op runs from its shipped adapter."""
    import importlib.util
    import zipfile

    frameworks = [f for f in ("torch", "tensorflow", "mindspore") if importlib.util.find_spec(f)]
    if not frameworks:
        pytest.skip("no framework is installed here (pip install 'bce-grad[frameworks]')")
    (wheel,) = (installed[0].parents[2] / "dist").glob("bce_grad-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    for path in site.rglob("*.so"):
        path.chmod(0o755)
    bare = _bare(Path(sys.executable), dict(os.environ), tmp_path / "home")
    bare["PYTHONPATH"] = str(site)  # ahead of this checkout's editable install
    calls = {
        "torch": "import torch, bce_grad.torch as bt\n"
                 "xt = torch.from_numpy(x).requires_grad_()\n"
                 "bt.binary_cross_entropy(xt, torch.from_numpy(y)).backward()\n"
                 "got['torch'] = xt.grad.numpy()\n",
        "tensorflow": "import bce_grad.tensorflow as btf\n"
                      "got['tensorflow'] = btf.binary_cross_entropy_grad(x, y, g).numpy()\n",
        "mindspore": "import mindspore as ms, bce_grad.mindspore as bms\n"
                     "got['mindspore'] = bms.BinaryCrossEntropyGrad('mean')(ms.Tensor(x), "
                     "ms.Tensor(y), ms.Tensor(g)).asnumpy()\n",
    }
    code = ("import json, numpy as np, bce_grad\n"
            "rng = np.random.default_rng(3)\n"
            "x = rng.uniform(0.02, 0.98, (8, 4)).astype(np.float32)\n"
            "y = rng.uniform(0, 1, (8, 4)).astype(np.float32)\n"
            "g = np.ones((), np.float32)\n"
            "want = bce_grad.binary_cross_entropy_grad_golden(x=x, y=y, grad_output=g, "
            "compute_dtype='float32')\n"
            "got = {}\n" + "".join(calls[f] for f in frameworks) +
            "print(json.dumps({'where': bce_grad.__file__, "
            "'same': {k: v.tobytes() == want.tobytes() for k, v in got.items()}}))\n")
    done = _run([sys.executable, "-c", code], cwd=tmp_path, env=bare, timeout=600)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["where"].startswith(str(site)), result
    assert result["same"] == {f: True for f in frameworks}, result
    assert _files_under(tmp_path / "home") == [], "something was compiled or cached"
