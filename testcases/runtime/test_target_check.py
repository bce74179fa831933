"""The runtime checks a package's (and a kernel's) recorded target against this CPU before it
loads a kernel: code for features the host lacks is refused with E61001, never run into SIGILL."""
from __future__ import annotations

import hashlib
import json
import platform as py_platform
from pathlib import Path

import pytest

from bce_grad.host_backend.errors import OpError

SOC = "Ascend910B1"


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.split(":", 1)[-1].split())


X86 = py_platform.machine() in ("x86_64", "AMD64")
pytestmark = pytest.mark.skipif(not X86, reason="the feature checks under test are x86's")


def _manifest(**target_fields) -> dict:
    from bce_grad.runtime.kernel_set import FORMAT, FORMAT_VERSION, op_info_dtypes
    from bce_grad import kernel_cache

    features = target_fields.pop("features", None)
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "op_type": "BinaryCrossEntropyGrad",
        "soc_version": SOC, "short_soc_version": "Ascend910B", "soc_dir": "ascend910b",
        "target": {"kind": "llvm", "mtriple": "x86_64-linux-gnu", **target_fields},
        "tvm_version": kernel_cache.tvm_version(), "op_info": op_info_dtypes(SOC), "kernels": [],
    }
    if features is not None:
        manifest["features"] = features
    return manifest


def _open(manifest, runtime_library):
    from bce_grad.runtime import Runtime

    return Runtime.in_memory(manifest, library=runtime_library)


@pytest.mark.skipif("avx512f" in _cpu_flags(), reason="this CPU has AVX-512")
def test_avx512_package_is_refused_naming_the_missing_features(runtime_library):
    features = ["avx", "avx2", "avx512bw", "avx512f", "avx512vl", "f16c", "fma", "sse4.2"]
    with pytest.raises(OpError) as caught:
        _open(_manifest(mcpu="znver4", features=features), runtime_library)
    err = caught.value
    assert err.code == "E61001"
    assert "needs CPU features this machine lacks: avx512bw, avx512f, avx512vl (built for CPU " \
           "[znver4], x86_64-linux-gnu)" in str(err)
    assert "illegal instruction" in str(err) and "bce-grad aot" in str(err)


def test_package_for_this_cpu_opens(runtime_library):
    from bce_grad.host_backend import targets

    config = targets.target_config("llvm")
    manifest = _manifest(mcpu=config["mcpu"], features=list(targets.config_features(config)))
    manifest["target"]["mtriple"] = config["mtriple"]
    with _open(manifest, runtime_library) as rt:
        assert rt.kernel_count == 0


def test_cpp_detection_agrees_with_llvm_on_every_feature(runtime_library):
    """The runtime's cpuid table against LLVM's own host detection (through TVM), name by name."""
    from bce_grad.host_backend import targets

    known = targets._host_feature_map()
    names = sorted(n for n in known if n.startswith(targets._CODEGEN_FEATURES))
    lacking = [n for n in names if not known[n]]
    if not lacking:
        with _open(_manifest(features=names), runtime_library):
            return
    with pytest.raises(OpError) as caught:
        _open(_manifest(features=names), runtime_library)
    reported = str(caught.value).split("lacks: ", 1)[1].split(" (built for", 1)[0].split(", ")
    assert reported == lacking


def test_unknown_feature_and_other_architecture_are_refused(runtime_library):
    with pytest.raises(OpError, match=r"\[E61001\] .*lacks: avx99 \(unknown to this runtime\)"):
        _open(_manifest(features=["sse2", "avx99"]), runtime_library)
    manifest = _manifest(mcpu="neoverse-v1", features=["neon"])
    manifest["target"]["mtriple"] = "aarch64-linux-gnu"
    with pytest.raises(OpError, match=r"\[E61001\] .*cannot run on this x86_64 machine \(built for "
                                      r"CPU \[neoverse-v1\], aarch64-linux-gnu\)"):
        _open(manifest, runtime_library)


@pytest.mark.skipif("avx512f" in _cpu_flags(), reason="this CPU has AVX-512")
def test_kernel_whose_json_target_needs_more_is_refused_before_loading(runtime_library, tmp_path):
    """A kernel added to a package (as the numpy API adds its cache's kernels) is checked against
    its own JSON's target before its .so is opened: here the .so is not even a library."""
    so = tmp_path / "k.so"
    so.write_bytes(b"not a shared object: loading it would fail differently")
    sha = hashlib.sha256(so.read_bytes()).hexdigest()
    meta = {"name": "k", "so_sha256": sha, "cases": [],
            "target": {"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": "sapphirerapids"},
            "features": ["avx2", "avx512f", "amx-tile"]}
    (tmp_path / "k.json").write_text(json.dumps(meta))
    with _open(_manifest(), runtime_library) as rt:
        with pytest.raises(OpError, match=r"\[E61001\] .*k\.json needs CPU features this machine "
                                          r"lacks: avx512f, amx-tile \(built for CPU "
                                          r"\[sapphirerapids\]"):
            rt.add_kernel({"name": "k", "so_sha256": sha, "dtypes": ["float32"] * 3,
                           "output": "float32", "reduction": "mean", "pattern": "d_d_d",
                           "so": str(so), "json": str(tmp_path / "k.json")})
