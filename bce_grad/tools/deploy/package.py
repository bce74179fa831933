"""Build the custom OPP package: a vendors/ tree, its install.sh and a reproducible tar.gz.

Layout of ``<out>/bce_grad_opp_<vendor>/`` (CANN's vendors layout, CANN >= 6)::

    install.sh
    vendors/config.ini                                    load_priority=<vendor>
    vendors/<vendor>/op_impl/ai_core/tbe/config/<soc>/aic-<soc>-ops-info.json
    vendors/<vendor>/op_impl/ai_core/tbe/<vendor>_impl/   every *.py of impl/, same tree
    vendors/<vendor>/op_proto/                            IR header, InferShape, CMakeLists
    vendors/<vendor>/framework/{mindspore,tf_plugin}/     generated from the op info

``<out>/bce_grad_opp_<vendor>.tar.gz`` holds the same tree and is byte-identical when
built twice from the same sources.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bce_grad.host_backend.errors import OpError
from bce_grad.tools.deploy.artifacts import ops_info_file_name
from bce_grad.tools.deploy.files import reproducible_tar_gz, write_atomic
from bce_grad.tools.deploy.frameworks import FRAMEWORK_FILES
from bce_grad.resources import impl_dir, op_proto_dir
from bce_grad.tools.deploy.op_info import OP_TYPE, SOC_DIRS, load_op_info, op_info_json

DEFAULT_VENDOR = "customize"
INSTALL_TEMPLATE = Path(__file__).with_name("install.sh.in")
#: Suffixes of the op_proto sources that ship (the .so is built on a CANN machine).
_PROTO_SUFFIXES = (".h", ".cc", ".py", ".txt")


@dataclass(frozen=True)
class Package:
    """What :func:`build_package` produced.

    Attributes
    ----------
    tree : Path
        The unpacked package directory (``install.sh`` at its top).
    archive : Path
        The ``.tar.gz`` of ``tree``.
    files : tuple of str
        Every file of the package, relative to ``tree``, sorted.
    """

    tree: Path
    archive: Path
    files: tuple[str, ...]


def check_vendor(vendor: str) -> str:
    """Return ``vendor`` if it can name ``vendors/<vendor>`` and the ``<vendor>_impl`` module."""
    if not (vendor.isascii() and vendor.isidentifier()):
        raise OpError("E80000", f"the parameter[vendor] is {vendor!r}; it must be ASCII letters, "
                      "digits and '_', not starting with a digit (it names the Python package "
                      f"'<vendor>_impl')", OP_TYPE, "vendor")
    return vendor


def _copy_sources(src_root: Path, pattern_suffixes: tuple[str, ...], dest: Path) -> None:
    """Copy files under ``src_root`` with the given suffixes to ``dest``, keeping the tree."""
    for path in sorted(src_root.rglob("*")):
        if not path.is_file() or path.suffix not in pattern_suffixes:
            continue
        if "__pycache__" in path.parts:
            continue
        write_atomic(dest / path.relative_to(src_root), path.read_bytes())


def _install_script(vendor: str) -> str:
    """install.sh with the vendor name filled in."""
    return INSTALL_TEMPLATE.read_text(encoding="utf-8").replace("@VENDOR@", vendor)


def stage_tree(root: Path, vendor: str) -> None:
    """Write the whole package tree under ``root`` (which must be empty)."""
    vendor_dir = root / "vendors" / vendor
    tbe = vendor_dir / "op_impl" / "ai_core" / "tbe"
    for soc in SOC_DIRS:
        write_atomic(tbe / "config" / soc / ops_info_file_name(soc), op_info_json(load_op_info(soc)))
    _copy_sources(impl_dir(), (".py",), tbe / f"{vendor}_impl")
    _copy_sources(op_proto_dir(), _PROTO_SUFFIXES, vendor_dir / "op_proto")
    for rel, generate in FRAMEWORK_FILES.items():
        write_atomic(vendor_dir / "framework" / rel, generate())
    write_atomic(root / "vendors" / "config.ini", f"load_priority={vendor}\n")
    write_atomic(root / "install.sh", _install_script(vendor), mode=0o755)


def _replace_dir(staged: Path, target: Path) -> None:
    """Move ``staged`` to ``target``, removing an older ``target`` only afterwards."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    staged.rename(target)
    if old is not None:
        shutil.rmtree(old)


def build_package(out_dir: Path, vendor: str = DEFAULT_VENDOR) -> Package:
    """Build the OPP tree and tar.gz under ``out_dir``.

    The tree is staged in a temporary directory inside ``out_dir`` and renamed into
    place, so a failed build leaves the previous package untouched.

    Parameters
    ----------
    out_dir : Path
        Where ``bce_grad_opp_<vendor>/`` and ``bce_grad_opp_<vendor>.tar.gz`` go.
    vendor : str
        The vendor name: ``vendors/<vendor>`` and ``<vendor>_impl``.
    """
    check_vendor(vendor)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OpError("E80000", f"the parameter[out] is {str(out_dir)!r}, which is not a "
                      "directory", OP_TYPE, "out")
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"bce_grad_opp_{vendor}"
    staged = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=out_dir))
    try:
        staged.chmod(0o755)
        stage_tree(staged, vendor)
        archive = reproducible_tar_gz(staged, out_dir / f"{name}.tar.gz", name)
        _replace_dir(staged, out_dir / name)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    tree = out_dir / name
    files = tuple(sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()))
    return Package(tree=tree, archive=archive, files=files)
