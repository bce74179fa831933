"""Load nothing unverified (issue 26 item 2).

- The runtime library and the adapters are checked against the SHA-256 recorded when they were
  built (``<lib>.sha256``) before they are loaded: a library planted at their path is rebuilt
  over, never loaded (the planted one writes a marker file when loaded: it never appears); a
  damaged one is rebuilt once, with one warning, and later calls work.
- A planted library in a folder others can write is refused (E80000 naming the folder).
- A package manifest names only files inside its package: ``..``, absolute paths and symbolic
  links out of it are refused.
- ``kernel_meta`` files follow the umask.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from bce_grad.host_backend.errors import OpError

from .conftest import run_python

SOC = "Ascend910B1"
#: A library with a constructor: loading it, and only that, writes the marker file.
PLANTED = r"""
#include <stdio.h>
#include <stdlib.h>
extern "C" {
__attribute__((constructor)) static void planted(void) {
  FILE* f = fopen(getenv("BCE_GRAD_TEST_MARKER"), "w");
  if (f) { fputs("the planted library ran\n", f); fclose(f); }
}
int bce_grad_abi_version(void) { return 2; }
int bce_grad_fake_adapter(void) { return 666; }
}
"""
ADAPTER = 'extern "C" int bce_grad_fake_adapter(void) { return 7; }\n'
#: Opens the runtime library in a fresh process; its build is the session's library, copied
#: (the real compile is covered elsewhere; here what matters is whether a build happens).
LOAD = """
import json, shutil, sys, warnings
from bce_grad.runtime import build
compiles = []
def copy_of_the_real_build(out):
    compiles.append(str(out))
    shutil.copyfile(sys.argv[1], out)
build._compile = copy_of_the_real_build
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from bce_grad.runtime import load_library, tiling
    lib = load_library()
    cof = tiling([(2, 3)] * 3, "mean", lib)[1]
print(json.dumps({"path": lib._name, "compiles": len(compiles), "cof": cof,
                  "warnings": [str(w.message) for w in caught if "rebuilding" in str(w.message)]}))
"""


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _compile(source: str, out: Path, tmp_path: Path) -> Path:
    from bce_grad.runtime.build import compiler

    src = tmp_path / f"{out.stem}.cc"
    src.write_text(source)
    subprocess.run([compiler()[0], "-shared", "-fPIC", "-O0", str(src), "-o", str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def good_runtime() -> Path:
    """The runtime library built in the session's cache (the suite's ``BCE_GRAD_CACHE``)."""
    from bce_grad.runtime.build import library_path

    return library_path()


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "root"
    monkeypatch.setenv("BCE_GRAD_CACHE", str(path))
    monkeypatch.setenv("BCE_GRAD_TEST_MARKER", str(tmp_path / "marker"))
    return path


def _load(good_runtime: Path) -> tuple[subprocess.CompletedProcess, dict | None]:
    done = subprocess.run([sys.executable, "-c", LOAD, str(good_runtime)], env=dict(os.environ),
                          capture_output=True, text=True, timeout=600)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    return done, (json.loads(lines[-1]) if done.returncode == 0 and lines else None)


def _runtime_path(root: Path, good_runtime: Path) -> Path:
    """Where the runtime library of this key lies in the cache (as the code under test says)."""
    from bce_grad.runtime import build

    return build.cache_root() / good_runtime.name


def test_a_library_planted_at_the_runtime_path_is_rebuilt_over_never_loaded(
        root, tmp_path, good_runtime):
    planted = _runtime_path(root, good_runtime)
    planted.parent.mkdir(parents=True)
    _compile(PLANTED, planted, tmp_path)
    done, result = _load(good_runtime)
    assert not (tmp_path / "marker").exists(), "the planted library was loaded"
    assert result is not None, done.stderr[-3000:]
    assert planted.parent == root / "runtime"
    assert result["path"] == str(planted) and result["compiles"] == 1
    assert len(result["warnings"]) == 1 and str(planted) in result["warnings"][0]
    assert _sha(planted) == _sha(good_runtime) == (planted.parent / f"{planted.name}.sha256").read_text().strip()
    assert result["cof"] == pytest.approx(1 / 6)


@pytest.mark.parametrize("record", ["stale record", "record of the damage"])
def test_a_damaged_runtime_library_is_rebuilt_once_with_one_warning(root, good_runtime, record):
    lib = _runtime_path(root, good_runtime)
    lib.parent.mkdir(parents=True, mode=0o700)
    shutil.copyfile(good_runtime, lib)
    sidecar = lib.parent / f"{lib.name}.sha256"
    sidecar.write_text(_sha(lib) + "\n")
    with open(lib, "r+b") as handle:
        if record == "stale record":  # a disk error, a killed copy: half the library
            handle.truncate(lib.stat().st_size // 2)
        else:  # a zeroed ELF header, and a record that agrees: the dynamic linker refuses it
            handle.write(b"\0" * 64)
    if record == "record of the damage":
        sidecar.write_text(_sha(lib) + "\n")
    done, result = _load(good_runtime)
    assert result is not None, done.stderr[-3000:]
    assert (result["compiles"], len(result["warnings"])) == (1, 1), result
    assert result["cof"] == pytest.approx(1 / 6)
    assert _sha(lib) == _sha(good_runtime)
    done, again = _load(good_runtime)  # and every later process just loads it
    assert again is not None and (again["compiles"], again["warnings"]) == (0, []), done.stderr


def test_a_planted_library_with_its_record_in_a_folder_others_can_write_is_refused(
        root, tmp_path, good_runtime):
    planted = _runtime_path(root, good_runtime)
    planted.parent.mkdir(parents=True)
    _compile(PLANTED, planted, tmp_path)
    (planted.parent / f"{planted.name}.sha256").write_text(_sha(planted) + "\n")
    planted.parent.chmod(0o777)
    done, result = _load(good_runtime)
    assert not (tmp_path / "marker").exists(), "the planted library was loaded"
    assert result is None and done.returncode != 0
    assert "E80000" in done.stderr and f"[{planted.parent}]" in done.stderr
    assert f"chmod go-w {planted.parent}" in done.stderr


def test_a_library_planted_at_an_adapter_path_is_rebuilt_over_never_loaded(root, tmp_path):
    import ctypes

    from bce_grad.runtime.adapter import framework_library

    source = tmp_path / "adapter.cc"
    source.write_text(ADAPTER)

    def build():
        return framework_library("libbce_grad_fake", source, ("-std=c++17", "-O0", "-fPIC", "-shared"),
                                 lambda: ([], [], "fake framework 1.0"), "torch")

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a first build says nothing
        lib = build()
    _compile(PLANTED, tmp_path / "planted.so", tmp_path)
    shutil.copyfile(tmp_path / "planted.so", lib)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = build()
    answer = ctypes.CDLL(str(again)).bce_grad_fake_adapter()
    assert not (tmp_path / "marker").exists(), "the planted library was loaded"
    assert answer == 7 and _sha(lib) != _sha(tmp_path / "planted.so")
    assert again == lib and lib.parent == root / "torch"
    assert [str(w.message) for w in caught if "rebuilding" in str(w.message)] != []
    assert len(caught) == 1, [str(w.message) for w in caught]


@pytest.fixture(scope="module")
def one_kernel_package(tmp_path_factory) -> Path:
    from bce_grad.runtime.kernel_set import KernelSpec, build_package

    out = tmp_path_factory.mktemp("one_kernel_package")
    build_package(out, SOC, [KernelSpec(("float32",) * 3, "float32", "mean", "d_d_d")], jobs=1,
                  log=lambda line: None)
    return out


@pytest.mark.parametrize("tamper", ["dotdot", "absolute", "symlink"])
def test_manifest_paths_out_of_the_package_are_refused(one_kernel_package, good_runtime, tmp_path,
                                                        tamper):
    from bce_grad.runtime import Runtime

    package = tmp_path / "pkg"
    shutil.copytree(one_kernel_package, package)
    with Runtime(package, eager=True, library=str(good_runtime)) as rt:  # untampered: opens
        assert rt.kernel_count == 1
    manifest = json.loads((package / "manifest.json").read_text())
    entry = manifest["kernels"][0]
    outside = tmp_path / "outside.so"  # the very kernel, so its SHA-256 still matches
    shutil.move(package / entry["so"], outside)
    if tamper == "dotdot":
        entry["so"] = "../outside.so"
    elif tamper == "absolute":
        entry["so"] = str(outside)
    else:
        (package / "kernels" / "link.so").symlink_to(outside)
        entry["so"] = "kernels/link.so"
    (package / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(OpError, match=r"E61001.*its so path \[.*\] (contains \"\.\.\"|is not a "
                                      r"relative path inside|leads out of the package)"):
        Runtime(package, eager=True, library=str(good_runtime))
    from bce_grad.runtime.kernel_set import package_file  # what Python reads of a manifest

    assert package_file(package, entry["so"]) is None
    assert package_file(package, manifest["kernels"][0]["json"]) == package / entry["json"]


def test_kernel_meta_files_follow_the_umask(tmp_path):
    code = ("import os; os.umask(0o022)\n"
            "import numpy as np\n"
            "from bce_grad.api import binary_cross_entropy_backward as f\n"
            "x = np.full((3, 5), 0.25, np.float32)\n"
            "f(x, x, x, None, 'sum')\n")
    done = run_python(code, env={"BCE_GRAD_CACHE": str(tmp_path / "root")}, cwd=os.getcwd())
    assert done.returncode == 0, done.stderr[-3000:]
    built = sorted(p for p in tmp_path.rglob("bce_grad_*") if p.suffix in (".so", ".o", ".json"))
    assert {p.suffix for p in built} == {".so", ".o", ".json"}, built
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in built} == \
        {p.name: oct(0o644) for p in built}
    kernels = built[0].parent
    assert kernels == tmp_path / "root" / "kernels"
    assert kernels.stat().st_mode & 0o777 == 0o700  # the folder keeps others out
