"""kernel_meta as CANN's: ``build`` writes ``<kernel>.o`` and CANN's kernel-description keys.

The keys and their values follow TBE's build (``binFileName`` = kernel name,
``binFileSuffix`` ``.o``, ``kernelName`` ``<name>__kernel0`` for a static kernel,
``sha256`` of the ``.o``, ``workspace`` ``{num, size}``, ``parameters``) and what CANN's
op_test_frame reads (``blockDim``, ``kernelName``, ``magic``, ``workspace.size``,
``opParaSize``). The host's ``magic`` and ``blockDim`` are deliberate differences: the
kernel runs on the host, in one call.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bce_grad.host_backend import build as host_build
from bce_grad.tools.cli import main

NAME_STATIC = "bce_meta_static"
NAME_DYNAMIC = "bce_meta_dynamic"
CANN_KEYS = {"binFileName", "binFileSuffix", "blockDim", "kernelName", "magic", "opParaSize",
             "parameters", "sha256", "workspace"}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def kernel_meta(tmp_path_factory) -> tuple[Path, str]:
    """One static and one dynamic kernel built by ``bce-grad compile``, and what it printed."""
    out = tmp_path_factory.mktemp("kernel_meta")
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["compile", "--shape=4,8", "--dtype", "float32", "--kernel-meta", str(out),
                     "--kernel-name", NAME_STATIC]) == 0
        assert main(["compile", "--shape=-1,8", "--dtype", "float16", "--dynamic",
                     "--kernel-meta", str(out), "--kernel-name", NAME_DYNAMIC]) == 0
    return out, printed.getvalue()


def _meta(out: Path, name: str) -> dict:
    return json.loads((out / f"{name}.json").read_text())


def test_static_kernel_json_carries_cann_keys(kernel_meta):
    out, _ = kernel_meta
    meta = _meta(out, NAME_STATIC)
    assert CANN_KEYS <= set(meta)
    assert meta["binFileName"] == NAME_STATIC
    assert meta["binFileSuffix"] == ".o"
    assert meta["kernelName"] == f"{NAME_STATIC}__kernel0"  # TBE's stub name for a static kernel
    assert meta["blockDim"] == 1 and isinstance(meta["blockDim"], int)
    assert meta["opParaSize"] == 0  # no tiling data: op_test_frame sees has_tiling False
    assert meta["workspace"] == {"num": 0, "size": []}
    assert meta["parameters"] == []
    assert meta["magic"] == host_build.HOST_MAGIC_PREFIX + "LLVM"
    # the host's own keys stay beside CANN's
    assert meta["name"] == NAME_STATIC and meta["cases"] and isinstance(meta["so_sha256"], str)


def test_dynamic_kernel_json_declares_tiling_data(kernel_meta):
    out, _ = kernel_meta
    meta = _meta(out, NAME_DYNAMIC)
    assert CANN_KEYS <= set(meta)
    assert meta["kernelName"] == NAME_DYNAMIC  # stubs <name>_<tiling key>
    assert meta["opParaSize"] == host_build.HOST_TILING_CAPACITY > 0


@pytest.mark.parametrize("name", [NAME_STATIC, NAME_DYNAMIC])
def test_object_file_is_named_by_the_json_and_matches_its_sha256(kernel_meta, name):
    out, _ = kernel_meta
    meta = _meta(out, name)
    obj = out / f"{meta['binFileName']}{meta['binFileSuffix']}"
    assert obj == out / f"{name}.o" and obj.is_file() and obj.stat().st_size > 0
    assert _sha(obj) == meta["sha256"]
    assert _sha(out / f"{name}.so") == meta["so_sha256"]
    header = obj.read_bytes()[:18]
    assert header[:4] == b"\x7fELF"
    assert int.from_bytes(header[16:18], "little") == 1  # ET_REL: the object code, not the library


def test_build_leaves_no_temporary_files(kernel_meta):
    out, _ = kernel_meta
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{name}{suffix}" for name in (NAME_STATIC, NAME_DYNAMIC) for suffix in (".so", ".o", ".json"))


def test_compile_command_lists_the_object_file(kernel_meta):
    out, printed = kernel_meta
    for name in (NAME_STATIC, NAME_DYNAMIC):
        for suffix in (".so", ".o", ".json"):
            assert str(out / f"{name}{suffix}") in printed


def test_kernel_desc_forwards_to_build(kernel_meta, tmp_path):
    from bce_grad.cann_compat import kernel_desc

    assert kernel_desc.cann_kernel_keys is host_build.cann_kernel_keys  # one source of truth
    assert not hasattr(kernel_desc, "cann_keys")
    out, _ = kernel_meta
    assert kernel_desc.describe(out / f"{NAME_STATIC}.json") == out / f"{NAME_STATIC}.o"
    for name in (f"{NAME_STATIC}.json", f"{NAME_STATIC}.so", f"{NAME_STATIC}.o"):
        shutil.copyfile(out / name, tmp_path / name)
    (tmp_path / f"{NAME_STATIC}.o").write_bytes(b"stale")
    with pytest.raises(FileNotFoundError, match="sha256"):
        kernel_desc.describe(tmp_path / f"{NAME_STATIC}.json")
    meta = _meta(tmp_path, NAME_STATIC)
    del meta["binFileName"]
    (tmp_path / f"{NAME_STATIC}.json").write_text(json.dumps(meta))
    with pytest.raises(FileNotFoundError, match="binFileName"):
        kernel_desc.describe(tmp_path / f"{NAME_STATIC}.json")


def test_several_objects_merge_into_one_relocatable_object(tmp_path):
    """A CUDA build links two objects (host code and packed device code); the .o holds both."""
    from tvm.support import cc

    compiler = cc.get_cc()
    if not compiler:
        pytest.skip("no C compiler")
    objects = []
    for index in range(2):
        src = tmp_path / f"part{index}.c"
        src.write_text(f"int bce_part{index}(void) {{ return {index}; }}\n")
        obj = tmp_path / f"part{index}.o"
        subprocess.run([compiler, "-x", "c", "-c", str(src), "-o", str(obj)], check=True)
        objects.append(str(obj))
    merged = tmp_path / "merged.o"
    host_build._write_object(objects, str(merged))  # pylint: disable=protected-access
    data = merged.read_bytes()
    assert int.from_bytes(data[16:18], "little") == 1
    assert b"bce_part0" in data and b"bce_part1" in data


def test_kernel_cache_removes_and_counts_the_object_file(tmp_path):
    from bce_grad import kernel_cache

    name = kernel_cache.PREFIX + "0123abcd"
    for suffix in (".json", ".so", ".o", ".lock"):
        (tmp_path / f"{name}{suffix}").write_bytes(b"x" * 10)
    orphan = tmp_path / f".{name}.o.999999999.abc"
    orphan.write_bytes(b"x")
    assert kernel_cache.entries(tmp_path)[name]["bytes"] == 40
    assert orphan in kernel_cache.orphans(tmp_path)
    assert kernel_cache.clear(tmp_path) == (1, 0)
    assert list(tmp_path.iterdir()) == []
