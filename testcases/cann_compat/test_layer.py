"""The compat layer's rules: opt-in, refused beside a real CANN, marked, honest about gaps."""
from __future__ import annotations

import contextvars
import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, env_path: Path | None = None) -> subprocess.CompletedProcess:
    env = None
    if env_path is not None:
        import os

        env = dict(os.environ, PYTHONPATH=f"{env_path}{os.pathsep}{ROOT}")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)


def test_nothing_is_installed_until_install_is_called():
    out = _python("import sys, bce_grad.cann_compat as c\n"
                  "print(c.installed(), 'te' in sys.modules, 'tbe' in sys.modules)")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "False", "False"]


@pytest.mark.parametrize("root", ["te", "tbe"])
def test_install_is_refused_where_a_real_cann_package_is_importable(tmp_path, root):
    (tmp_path / root).mkdir()
    (tmp_path / root / "__init__.py").write_text("")
    out = _python("import bce_grad.cann_compat as c\n"
                  "try:\n    c.install()\nexcept c.CannCompatError as err:\n    print(err)\n",
                  env_path=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"a real CANN package [{root}] is importable" in out.stdout


def test_project_adapter_stays_on_the_host_when_the_layer_is_active():
    out = _python("import bce_grad.cann_compat as c; c.install()\n"
                  "import tbe, impl.util.platform_adapter as a\n"
                  "from bce_grad.host_backend.register import TILINGS\n"
                  "import impl.dynamic.binary_cross_entropy_grad\n"
                  "print(a.IS_HOST_BACKEND, tbe.__bce_grad_host_backend__, sorted(TILINGS))")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "True True ['BinaryCrossEntropyGrad']"


def test_modules_live_in_sys_modules_only(cann_layer):
    import te
    import te.lang.cce
    import tbe.common.context.op_context

    for module in (te, te.lang.cce, tbe.common.context.op_context):
        assert getattr(module, "__file__", None) is None
        assert module is sys.modules[module.__name__]
        assert module.__bce_grad_host_backend__
    import importlib.machinery

    assert importlib.machinery.PathFinder.find_spec("te") is None  # nothing on disk
    assert importlib.machinery.PathFinder.find_spec("tbe") is None


def test_unhonoured_names_bind_but_raise_naming_the_api(cann_layer):
    from tbe import tik
    from te.lang.cce import tuple_sum
    from tbe.common import platform

    scope = platform.scope_ubuf  # read at class-definition time by CANN's platform_adapter
    for thing, api in ((tik.Tik, "tbe.tik.Tik"), (tuple_sum, "te.lang.cce.tuple_sum"),
                       (scope, "tbe.common.platform.scope_ubuf")):
        with pytest.raises(cann_layer.UnsupportedApiError, match=api.replace(".", r"\.")):
            thing()
    with pytest.raises(cann_layer.UnsupportedApiError, match="scope_ubuf"):
        str(scope)
    with pytest.raises(ModuleNotFoundError, match="te.lang.cce.no_such_module"):
        import te.lang.cce.no_such_module  # noqa: F401
    with pytest.raises(AttributeError, match=r"tbe\.common\.register\.no_such_name"):
        import tbe.common.register as register

        register.no_such_name  # noqa: B018


def test_known_names_answer_from_the_host_backend(cann_layer):
    # te_set_version selects the SoC for the calling context: run in a copy of it
    contextvars.copy_context().run(_known_names_answer)


def _known_names_answer():
    import te.platform as te_platform
    from tbe.common.context import op_context, op_info

    te_platform.te_set_version("Ascend310P3")
    assert te_platform.get_soc_spec("SHORT_SOC_VERSION") == "Ascend310P"
    assert te_platform.cce_conf.api_check_support("te.lang.cce.vmul", "float32") is True
    assert te_platform.SOC_VERSION == "SOC_VERSION" and te_platform.ASCEND_310 == "Ascend310"
    with op_context.OpContext("static"):
        info = op_info.OpInfo("BinaryCrossEntropyGrad", "BinaryCrossEntropyGrad")
        op_context.get_context().add_op_info(info)
        op_context.get_context().add_compile_info("k", 1)
        assert op_context.get_context().get_op_mode() == "static"
        assert op_context.get_context().get_op_info("BinaryCrossEntropyGrad") is info
        assert op_context.get_context().get_compile_info() == {"k": 1}


def test_tensor_dtype_is_a_str_while_installed_and_a_primtype_after(cann_layer):
    from te import tvm as cann_tvm
    from tvm import te

    x = cann_tvm.placeholder([4], name="x", dtype="float16")
    assert isinstance(x.dtype, str) and x.dtype.lower() == "float16"
    assert json.dumps({x.dtype: x.dtype}) == '{"float16": "float16"}'
    assert x.dtype.matches_code  # TVM's own callers (topi) still find PrimType's attributes
    cann_layer.uninstall()
    assert not isinstance(te.placeholder([4], name="y", dtype="float16").dtype, str)
    cann_layer.install()


def _probe() -> dict:
    """Run in a spawned worker: does it see the layer without anyone installing it there?"""
    import importlib

    te_cce = importlib.import_module("te.lang.cce")
    return {"marker": bool(getattr(te_cce, "__bce_grad_host_backend__", False)),
            "vmul": callable(te_cce.vmul)}


def test_a_spawned_worker_gets_the_layer():
    from bce_grad.cann_compat.workers import ENV, export, unexport

    exported = export({"layer": True}, [str(ROOT)])
    try:
        assert Path(exported.directory, "sitecustomize.py").is_file()
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            assert pool.apply(_probe) == {"marker": True, "vmul": True}
    finally:
        unexport(exported)
    import os

    assert ENV not in os.environ and not exported.directory.exists()


def test_old_style_util_and_dsl_names_canndev_operators_use(cann_layer):
    """canndev's Add calls ``te.lang.cce.util.shape_to_list``, its Sigmoid ``vrec(x, mode)``,
    its Sqrt-based operators ``vsqrt`` (issue 28)."""
    import te.lang.cce as old
    from tbe import dsl

    assert old.util.shape_to_list([2, 3]) == [2, 3]
    assert callable(dsl.vsqrt) and callable(old.vsqrt)
    with pytest.raises(cann_layer.UnsupportedApiError, match=r"te\.lang\.cce\.util\.no_such"):
        old.util.no_such()
