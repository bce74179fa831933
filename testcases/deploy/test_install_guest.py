"""install.sh is a guest in the OPP root: it touches only what it installed (issue 26, item 1).

Another vendor is installed first, with its own ``set_env.bash`` sourced before ours runs;
install paths carry spaces, ``$(...)``, backticks, quotes and a newline. Install, reinstall,
upgrade and uninstall must leave every file of the other vendor byte-identical, and sourcing
our ``set_env.bash`` must run nothing.
"""
from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="install.sh needs bash")

VENDOR = "customize"
MANIFEST = ".bce_grad_install_manifest"
#: A folder name that runs commands if any shell expands it unquoted.
HOSTILE = "opp root $(touch pwned) `touch pwned` 'q\" \nline two"


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    """One package (test_deploy_package.py builds it through the CLI), shared by this module."""
    from bce_grad.tools.deploy.package import build_package

    return build_package(tmp_path_factory.mktemp("pkg"), VENDOR).tree


@pytest.fixture(scope="module")
def smaller_package(package, tmp_path_factory) -> tuple[Path, str]:
    """The same package with one file fewer (the upgrade), and that file's relative path."""
    copy = tmp_path_factory.mktemp("pkg2") / package.name
    shutil.copytree(package, copy)
    gone = "op_impl/ai_core/tbe/config/ascend910/aic-ascend910-ops-info.json"
    (copy / "vendors" / VENDOR / gone).unlink()
    return copy, gone


def _snapshot(root: Path) -> dict[str, str]:
    """Every file (sha256), symlink (target) and directory under ``root``, by relative path."""
    seen = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            seen[rel] = "link:" + os.readlink(path)
        elif path.is_dir():
            seen[rel] = "dir"
        else:
            seen[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return seen


def _other_vendor(vendors: Path, name: str = "other") -> Path:
    """A second vendor's tree, with its own bin/set_env.bash; returns that set_env.bash."""
    root = vendors / name
    impl = root / "op_impl" / "ai_core" / "tbe" / f"{name}_impl"
    impl.mkdir(parents=True)
    (impl / "their_op.py").write_text("def their_op():\n    return 42\n")
    config = root / "op_impl" / "ai_core" / "tbe" / "config" / "ascend910"
    config.mkdir(parents=True)
    (config / "aic-ascend910-ops-info.json").write_text('{"TheirOp": {}}\n')
    (root / "op_proto").mkdir()
    (root / "op_proto" / "libcust_op_proto.so").write_bytes(bytes(range(256)))
    (root / "bin").mkdir()
    set_env = root / "bin" / "set_env.bash"
    set_env.write_text("export ASCEND_CUSTOM_OPP_PATH="
                       f"{shlex.quote(str(root))}${{ASCEND_CUSTOM_OPP_PATH:+:$ASCEND_CUSTOM_OPP_PATH}}\n")
    return set_env


def _run(package: Path, *args: str, source: Path | None = None, env: dict[str, str] | None = None,
         cwd: Path) -> subprocess.CompletedProcess:
    """Run install.sh from ``cwd``, after sourcing ``source`` (another vendor's set_env.bash)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ASCEND_")}
    script = 'if [ -n "$1" ]; then . "$1"; fi; shift; exec bash "$@"'
    argv = ["bash", "-c", script, "bash", str(source or ""), str(package / "install.sh"), *args]
    return subprocess.run(argv, env={**clean, **(env or {})}, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def _no_pwned(tmp_path: Path) -> None:
    assert not [p for p in tmp_path.rglob("pwned*")], "a command embedded in a path ran"


def _ours(package: Path) -> set[str]:
    tree = package / "vendors" / VENDOR
    return {p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()}


@pytest.fixture
def world(tmp_path) -> dict[str, Path]:
    """A hostile OPP root holding another vendor, plus a second vendor in its own custom path."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    opp = tmp_path / HOSTILE
    vendors = opp / "vendors"
    vendors.mkdir(parents=True)
    (vendors / "config.ini").write_text("# vendors of this OPP\nload_priority=other\n")
    _other_vendor(vendors)
    custom = tmp_path / "custom ops $(touch pwned)" / "vendors"
    custom.mkdir(parents=True)
    return {"tmp": tmp_path, "cwd": cwd, "opp": opp, "vendors": vendors,
            "their_env": _other_vendor(custom, "thirdparty"), "custom": custom}


def _sourced(world, set_env: Path) -> str:
    """ASCEND_CUSTOM_OPP_PATH after sourcing the other vendor's set_env.bash, then ``set_env``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASCEND_")}
    show = '. "$1"; . "$2"; printf "%s" "$ASCEND_CUSTOM_OPP_PATH"'
    shown = subprocess.run(["bash", "-c", show, "bash", str(world["their_env"]), str(set_env)],
                           env=env, cwd=world["cwd"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    _no_pwned(world["tmp"])
    return shown.stdout


def _check_lifecycle(package, smaller, world, args, env, target):
    """install, reinstall, upgrade, uninstall: the others stay byte-identical each time."""
    others = {"opp": (world["vendors"] / "other"), "custom": world["custom"]}
    before = {key: _snapshot(path) for key, path in others.items()}
    config = world["vendors"] / "config.ini"
    config_before = config.read_bytes()
    small, gone = smaller
    steps = [("install", package, ()), ("reinstall", package, ()), ("upgrade", small, ()),
             ("uninstall", small, ("--uninstall",))]
    for step, pkg, extra in steps:
        done = _run(pkg, *args, *extra, source=world["their_env"], env=env, cwd=world["cwd"])
        assert done.returncode == 0, f"{step}: {done.stderr}"
        for key, path in others.items():
            assert _snapshot(path) == before[key], f"{step} changed the {key} vendor"
        _no_pwned(world["tmp"])
        if step == "uninstall":
            assert not target.exists(), "uninstall left our (empty) folder behind"
            break
        if "--install-path" in args:
            assert _sourced(world, target / "bin" / "set_env.bash") == f"{target}:{world['custom'] / 'thirdparty'}"
        installed = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
        expected = _ours(pkg) | {MANIFEST} | ({"bin/set_env.bash"} if "--install-path" in args else set())
        assert installed == expected, step
        if step == "upgrade":
            assert not (target / gone).exists(), "the file the new package dropped is still there"
    return config, config_before


def test_install_path_lifecycle_leaves_other_vendors_alone(package, smaller_package, world):
    root = world["tmp"] / ("install dir " + HOSTILE)
    root.mkdir()
    target = root / "vendors" / VENDOR
    _check_lifecycle(package, smaller_package, world, ("--install-path", str(root)), None, target)
    config, _ = _check_lifecycle(package, smaller_package, world,
                                 ("--install-path", str(root)), None, target)
    assert config.read_text() == "# vendors of this OPP\nload_priority=other\n"


def test_opp_root_lifecycle_leaves_other_vendors_alone(package, smaller_package, world):
    env = {"ASCEND_OPP_PATH": str(world["opp"])}
    target = world["vendors"] / VENDOR
    config, config_before = _check_lifecycle(package, smaller_package, world, (), env, target)
    assert config.read_bytes() == config_before, "uninstall must restore load_priority"


def test_opp_root_install_puts_us_first_and_keeps_the_others(package, world):
    config = world["vendors"] / "config.ini"
    config.write_text("# vendors of this OPP\nload_priority=other,acme,customize,zeta\nextra=1\n")
    env = {"ASCEND_OPP_PATH": str(world["opp"])}
    for _ in range(2):
        done = _run(package, source=world["their_env"], env=env, cwd=world["cwd"])
        assert done.returncode == 0, done.stderr
        assert config.read_text() == ("# vendors of this OPP\n"
                                      "load_priority=customize,other,acme,zeta\nextra=1\n")
    assert (world["vendors"] / VENDOR / "op_impl/ai_core/tbe/customize_impl").is_dir()
    done = _run(package, "--uninstall", source=world["their_env"], env=env, cwd=world["cwd"])
    assert done.returncode == 0, done.stderr
    assert config.read_text() == "# vendors of this OPP\nload_priority=other,acme,zeta\nextra=1\n"


def test_custom_opp_path_is_never_our_target(package, world):
    """ASCEND_CUSTOM_OPP_PATH names other vendors' folders: never installed into or removed."""
    mydata = world["tmp"] / "mydata"
    (mydata / "keep").mkdir(parents=True)
    (mydata / "keep" / "results.csv").write_text("1,2,3\n")
    before = _snapshot(mydata), _snapshot(world["custom"])
    for value in (str(mydata), f"{mydata}:{world['custom'] / 'thirdparty'}"):
        env = {"ASCEND_CUSTOM_OPP_PATH": value}
        for args in ((), ("--uninstall",)):
            done = _run(package, *args, env=env, cwd=world["cwd"])
            assert done.returncode == 1, done.stdout
            assert "no target" in done.stderr
            assert (_snapshot(mydata), _snapshot(world["custom"])) == before
        # With an OPP root as well, the install goes there, and ASCEND_CUSTOM_OPP_PATH is
        # left alone.
        env["ASCEND_OPP_PATH"] = str(world["opp"])
        for args in ((), ("--uninstall",)):
            done = _run(package, *args, env=env, cwd=world["cwd"])
            assert done.returncode == 0, done.stderr
            assert (_snapshot(mydata), _snapshot(world["custom"])) == before
    assert not (world["vendors"] / VENDOR).exists()


def test_set_env_quotes_the_path_and_runs_nothing(package, world):
    root = world["tmp"] / ("install dir " + HOSTILE)
    root.mkdir()
    done = _run(package, "--install-path", str(root), cwd=world["cwd"])
    assert done.returncode == 0, done.stderr
    set_env = root / "vendors" / VENDOR / "bin" / "set_env.bash"
    theirs = str(world["custom"] / "thirdparty")
    show = ('. "$1"; . "$1"; printf "%s" "$ASCEND_CUSTOM_OPP_PATH"')
    for prior, expected in ((None, str(set_env.parent.parent)),
                            (theirs, f"{set_env.parent.parent}:{theirs}")):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASCEND_")}
        if prior is not None:
            env["ASCEND_CUSTOM_OPP_PATH"] = prior
        shown = subprocess.run(["bash", "-c", show, "bash", str(set_env)], env=env,
                               cwd=world["cwd"], capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout == expected, "sourced twice: our folder once, first, the others kept"
        _no_pwned(world["tmp"])


def test_a_folder_without_our_marker_is_refused(package, world):
    """vendors/customize of some other product (the default vendor name) is not ours."""
    theirs = world["vendors"] / VENDOR
    _other_vendor(world["vendors"], VENDOR)
    (theirs / "notes.txt").write_text("not from bce-grad\n")
    config = world["vendors"] / "config.ini"
    before = _snapshot(world["opp"])
    env = {"ASCEND_OPP_PATH": str(world["opp"])}
    for args in ((), ("--uninstall",)):
        done = _run(package, *args, env=env, cwd=world["cwd"])
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "error: " in lines[0] and "marker" in lines[0], lines
        assert _snapshot(world["opp"]) == before and config.exists()
    root = world["tmp"] / "flag"
    _other_vendor(root / "vendors", VENDOR)
    before = _snapshot(root)
    for args in ((), ("--uninstall",)):
        done = _run(package, "--install-path", str(root), *args, cwd=world["cwd"])
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert _snapshot(root) == before


def test_files_we_did_not_write_survive_reinstall_and_uninstall(package, world):
    root = world["tmp"] / "flag"
    root.mkdir()
    target = root / "vendors" / VENDOR
    assert _run(package, "--install-path", str(root), cwd=world["cwd"]).returncode == 0
    (target / "notes.txt").write_text("the user's own file\n")
    (target / "op_proto" / "extra").mkdir()
    (target / "op_proto" / "extra" / "x.h").write_text("// user\n")
    assert _run(package, "--install-path", str(root), cwd=world["cwd"]).returncode == 0
    assert (target / "notes.txt").read_text() == "the user's own file\n"
    done = _run(package, "--install-path", str(root), "--uninstall", cwd=world["cwd"])
    assert done.returncode == 0, done.stderr
    left = {p.relative_to(target).as_posix() for p in target.rglob("*")}
    assert left == {"notes.txt", "op_proto", "op_proto/extra", "op_proto/extra/x.h"}
