"""CANN's environment sourced (its ``impl`` and ``tbe`` first on ``PYTHONPATH``) changes nothing.

CANN puts its built-in operators (a top-level ``impl`` package) and its ``tbe`` on the Python
path. The host path loads the project's operator under a private name (``bce_grad._impl``),
never as ``impl``, and compiles with the host backend whatever ``tbe`` is importable. Each test
runs a fresh interpreter outside the repository (so the checkout's ``impl/`` is not reachable
through the working directory) with a CANN-like package tree first on ``PYTHONPATH`` and a
fresh kernel cache, so the call compiles its kernel.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: A CANN-like ``impl``: the op module lacks the project's names, the API switch refuses to load.
FAKE_IMPL = {
    "impl/__init__.py": "FAKE_CANN = True\n",
    "impl/binary_cross_entropy_grad.py": "def binary_cross_entropy_grad(*args, **kwargs):\n"
                                         "    raise RuntimeError('CANN built-in op called')\n",
    "impl/dynamic/__init__.py": "",
    "impl/dynamic/binary_cross_entropy_grad.py": "raise RuntimeError('CANN dynamic op imported')\n",
    "impl/util/__init__.py": "",
    "impl/util/platform_adapter.py": "raise RuntimeError('CANN platform_adapter imported')\n",
}
#: CANN's ``tbe`` and ``te``, importable but never to be used by the host path.
FAKE_TBE = {
    "tbe/__init__.py": "raise RuntimeError('CANN tbe imported')\n",
    "te/__init__.py": "raise RuntimeError('CANN te imported')\n",
}

CALL = textwrap.dedent("""
    import sys
    import numpy as np
    import bce_grad

    rng = np.random.default_rng(7)
    x = rng.uniform(0.05, 0.95, (37, 129)).astype(np.float32)
    y = rng.uniform(0.0, 1.0, (37, 129)).astype(np.float32)
    g = rng.standard_normal((37, 129)).astype(np.float32)
    got = bce_grad.binary_cross_entropy_backward(g, x, y, reduction="mean", soc="Ascend910B1")
    want = bce_grad.binary_cross_entropy_grad_golden(x=x, y=y, grad_output=g, reduction="mean",
                                                     compute_dtype="float32")
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, got.shape)
    assert got.tobytes() == want.tobytes(), "not bit-exact"
    fake = sys.modules.get("impl")
    assert fake is None or getattr(fake, "FAKE_CANN", False), fake  # the name is not hijacked
    assert not [n for n in sys.modules if n.startswith("impl.")], "an impl.* module was loaded"
    assert [n for n in sys.modules if n.startswith("bce_grad._impl.")], "not the private name"
    print("bit-exact", "impl" in sys.modules)
""")


def _cann_like_env(tmp_path: Path, files: dict[str, str]) -> tuple[dict, Path]:
    cann = tmp_path / "cann_python"
    for rel, text in files.items():
        (cann / rel).parent.mkdir(parents=True, exist_ok=True)
        (cann / rel).write_text(text)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(cann)] + [p for p in
                                                       [os.environ.get("PYTHONPATH")] if p])
    env["BCE_GRAD_CACHE"] = str(tmp_path / "cache")  # cold: the call compiles its kernel
    env["BCE_GRAD_KERNEL_META"] = str(tmp_path / "kernel_meta")
    work = tmp_path / "work"
    work.mkdir()
    return env, work


def _run(env: dict, work: Path, code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True,
                          text=True, timeout=600)


def test_cann_impl_first_on_the_path_changes_nothing(tmp_path):
    env, work = _cann_like_env(tmp_path, FAKE_IMPL)
    done = _run(env, work, "import impl; assert impl.FAKE_CANN\n" + CALL)  # CANN's, imported first
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["bit-exact", "True"]
    assert list((tmp_path / "cache").rglob("*.json")), "the call compiled no kernel"


def test_cann_tbe_and_impl_on_the_path_leave_the_host_backend_in_charge(tmp_path):
    env, work = _cann_like_env(tmp_path, {**FAKE_IMPL, **FAKE_TBE})
    done = _run(env, work, CALL)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["bit-exact", "False"]


#: What setup.cfg builds the wheel from.
SOURCES = ("setup.cfg", "setup.py", "pyproject.toml", "README.md", "bce_grad", "tools",
           "op_proto", "op_info_cfg", "impl")


def test_the_wheel_adds_no_top_level_name_but_bce_grad(tmp_path):
    """A wheel (built in about a second) holds bce_grad and its dist-info only; the operator
    files ride inside it, byte for byte, in bce_grad/_impl/sources, which bce_grad._impl
    loads by location. Built from a copy of the sources, so
    a stale ``build/lib`` of the checkout cannot add or hide a name."""
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.egg-info"))
        else:
            shutil.copy2(REPO / name, src / name)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(tmp_path / "dist"), str(src)], capture_output=True,
                          text=True, timeout=300,  # the layout only: no prebuilt kernels
                          env=dict(os.environ, BCE_GRAD_WHEEL_PREBUILT="0"))
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("bce_grad-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
        assert top == {"bce_grad"}
        shipped = {n[len("bce_grad/_impl/"):] for n in names if n.startswith("bce_grad/_impl/")}
        assert shipped == {"__init__.py"} | {
            "sources/" + p.relative_to(REPO / "impl").as_posix()
            for p in (REPO / "impl").rglob("*.py") if "__pycache__" not in p.parts}
        op = archive.read("bce_grad/_impl/sources/binary_cross_entropy_grad.py")
        assert op == (REPO / "impl/binary_cross_entropy_grad.py").read_bytes()
