"""``bce-grad package``: layout, byte-reproducibility, and install.sh end to end."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from bce_grad.tools.deploy.files import FIXED_MTIME
from bce_grad.tools.deploy.op_info import SOC_DIRS

#: The repository checkout these tests run in.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="install.sh needs bash")


@pytest.fixture(scope="module")
def package(tmp_path_factory, deploy_commands) -> Path:
    """One package built through the CLI, shared by the tests of this module."""
    import bce_grad.tools.cli

    out = tmp_path_factory.mktemp("pkg")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bce_grad.tools.cli, "COMMAND_MODULES", deploy_commands)
        assert bce_grad.tools.cli.main(["package", "--out", str(out)]) == 0
    return out / "bce_grad_opp_customize"


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_layout(package):
    vendor = "vendors/customize"
    tbe = f"{vendor}/op_impl/ai_core/tbe"
    files = _files(package)
    for soc in SOC_DIRS:
        assert f"{tbe}/config/{soc}/aic-{soc}-ops-info.json" in files
    impl_files = {p.relative_to(PROJECT_ROOT / "impl").as_posix()
                  for p in (PROJECT_ROOT / "impl").rglob("*.py") if "__pycache__" not in p.parts}
    assert impl_files, "impl/ has no .py files to ship"
    assert {f"{tbe}/customize_impl/{rel}" for rel in impl_files} <= files
    assert f"{vendor}/op_proto/inc/binary_cross_entropy_grad.h" in files
    assert f"{vendor}/op_proto/binary_cross_entropy_grad.cc" in files
    assert f"{vendor}/framework/mindspore/binary_cross_entropy_grad.py" in files
    assert f"{vendor}/framework/tf_plugin/tensorflow_binary_cross_entropy_grad_plugin.cc" in files
    assert (package / "vendors/config.ini").read_text() == "load_priority=customize\n"
    assert os.access(package / "install.sh", os.X_OK)
    assert not any("__pycache__" in f for f in files)


def test_impl_is_copied_unchanged(package):
    src = PROJECT_ROOT / "impl" / "binary_cross_entropy_grad.py"
    dst = package / "vendors/customize/op_impl/ai_core/tbe/customize_impl/binary_cross_entropy_grad.py"
    assert dst.read_bytes() == src.read_bytes()


def test_ops_info_json_is_the_op_info(package):
    path = package / "vendors/customize/op_impl/ai_core/tbe/config/ascend910/aic-ascend910-ops-info.json"
    entry = json.loads(path.read_text())["BinaryCrossEntropyGrad"]
    assert entry["input3"]["name"] == "weight"


def test_tar_gz_is_byte_reproducible_and_matches_the_tree(cli, tmp_path, package):
    first, second = tmp_path / "a", tmp_path / "b"
    assert cli("package", "--out", str(first)) == 0
    assert cli("package", "--out", str(first)) == 0  # rebuilding in place also works
    assert cli("package", "--out", str(second)) == 0
    name = "bce_grad_opp_customize.tar.gz"
    assert (first / name).read_bytes() == (second / name).read_bytes()
    with tarfile.open(first / name) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    owners = {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members}
    assert owners == {(0, 0, "root", "root", FIXED_MTIME)}
    in_tar = {m.name.split("/", 1)[1] for m in members if m.isfile()}
    assert in_tar == _files(first / "bce_grad_opp_customize")
    assert not [p for p in first.iterdir() if p.name.startswith(".")], "staging dirs left behind"


def test_custom_vendor_and_bad_vendor(cli, tmp_path, capsys):
    assert cli("package", "--out", str(tmp_path), "--vendor", "acme") == 0
    tree = tmp_path / "bce_grad_opp_acme"
    assert (tree / "vendors/acme/op_impl/ai_core/tbe/acme_impl").is_dir()
    assert "vendor=acme" in (tree / "install.sh").read_text()
    capsys.readouterr()
    assert cli("package", "--out", str(tmp_path), "--vendor", "my-vendor") == 2
    assert "parameter[vendor] is 'my-vendor'" in capsys.readouterr().err


def _install(package: Path, *args: str, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ASCEND_")}
    return subprocess.run(["bash", str(package / "install.sh"), *args], env={**clean, **(env or {})},
                          capture_output=True, text=True, timeout=60)


def _tree_digest(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_install_path_install_reinstall_uninstall(package, tmp_path):
    target = tmp_path / "vendors" / "customize"
    first = _install(package, "--install-path", str(tmp_path))
    assert first.returncode == 0, first.stderr
    installed = _tree_digest(target)
    manifest = {"bin/set_env.bash", ".bce_grad_install_manifest"}
    assert set(installed) - manifest == _files(package / "vendors/customize")
    assert f"_bce_grad_opp={target}\n" in (target / "bin/set_env.bash").read_text()
    (target / "stale.txt").write_text("not installed by us")
    again = _install(package, "--install-path", str(tmp_path))
    assert again.returncode == 0, again.stderr
    user_file = {"stale.txt": b"not installed by us"}
    assert _tree_digest(target) == {**installed, **user_file}, "reinstall replaces our files only"
    assert sorted(p.name for p in (tmp_path / "vendors").iterdir()) == ["customize"]
    removed = _install(package, "--install-path", str(tmp_path), "--uninstall")
    assert removed.returncode == 0 and _tree_digest(target) == user_file
    (target / "stale.txt").unlink()
    twice = _install(package, "--install-path", str(tmp_path), "--uninstall")
    assert twice.returncode == 0 and "nothing installed" in twice.stdout


def test_ascend_opp_path_updates_load_priority(package, tmp_path):
    vendors = tmp_path / "vendors"
    vendors.mkdir()
    (vendors / "config.ini").write_text("load_priority=other\n")
    env = {"ASCEND_OPP_PATH": str(tmp_path)}
    for _ in range(2):
        result = _install(package, env=env)
        assert result.returncode == 0, result.stderr
        assert (vendors / "config.ini").read_text() == "load_priority=customize,other\n"
    assert (vendors / "customize/op_impl/ai_core/tbe/customize_impl").is_dir()
    assert _install(package, "--uninstall", env=env).returncode == 0
    assert (vendors / "config.ini").read_text() == "load_priority=other\n"
    assert not (vendors / "customize").exists()


def test_precedence_install_path_then_opp_never_custom(package, tmp_path):
    flag_dir, custom, opp = tmp_path / "flag", tmp_path / "custom" / "mine", tmp_path / "opp"
    for directory in (flag_dir, custom.parent, opp):
        directory.mkdir(parents=True)
    env = {"ASCEND_CUSTOM_OPP_PATH": str(custom), "ASCEND_OPP_PATH": str(opp)}
    assert _install(package, "--install-path", str(flag_dir), env=env).returncode == 0
    assert (flag_dir / "vendors/customize/op_impl").is_dir() and not custom.exists()
    assert _install(package, env=env).returncode == 0
    assert (opp / "vendors/customize/op_impl").is_dir() and not custom.exists()


@pytest.mark.parametrize("args, env, message", [
    (["--install-path", "/no/such/dir"], {}, "is not an existing directory"),
    ([], {"ASCEND_CUSTOM_OPP_PATH": "/a/customize:/b/customize"}, "never a target"),
    ([], {"ASCEND_OPP_PATH": "/no/such/opp"}, "ASCEND_OPP_PATH='/no/such/opp'"),
    ([], {}, "no target"),
    (["--bogus"], {}, "unknown argument '--bogus'"),
])
def test_bad_targets_fail_clearly(package, args, env, message):
    result = _install(package, *args, env=env)
    assert result.returncode == 1
    assert "install.sh: error:" in result.stderr and message in result.stderr


def test_failed_copy_keeps_the_previous_install(package, tmp_path):
    target = tmp_path / "opp" / "vendors" / "customize"
    target.parent.parent.mkdir()
    assert _install(package, "--install-path", str(tmp_path / "opp")).returncode == 0
    before = _tree_digest(target)
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "cp").write_text('#!/bin/sh\n/bin/cp "$@" || exit 1\necho "cp: disk full" >&2\nexit 1\n')
    (shim / "cp").chmod(0o755)
    env = {"PATH": f"{shim}:{os.environ['PATH']}"}
    result = _install(package, "--install-path", str(tmp_path / "opp"), env=env)
    assert result.returncode == 1
    assert "copying the package" in result.stderr
    assert _tree_digest(target) == before, "the previous install must stay as it was"
    assert sorted(p.name for p in target.parent.iterdir()) == ["customize"], "staging left behind"


def test_install_help_prints_the_usage_and_no_shell_code(package):
    done = _install(package, "--help")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("Install (or uninstall)") and any("Usage:" in ln for ln in lines)
    assert not any(ln.strip() in ("set -eu", "#!/usr/bin/env bash") or "vendor=" in ln
                   for ln in lines), "the help printed lines of the script itself"
