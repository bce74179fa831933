"""``--impl-path``: an impl tree loads as CANN's package would, without its ``__init__``.

canndev's ``util/platform_adapter.py`` and ``util/util_common.py`` import each other. CANN's
package imports util_common first and both complete; an operator that imports platform_adapter
first got a half-initialised module (issue 28: 46 of 50 operators). The tree below has the
same cycle and an ``__init__`` whose side effect must not run.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

FILES = {
    "__init__.py": "raise RuntimeError('impl/__init__.py ran')\n",
    "util/__init__.py": "",
    "util/util_common.py": """
        from impl.util.platform_adapter import tbe_platform as adapter_platform
        def shape_of(x):
            return adapter_platform.name + ':' + str(x)
    """,
    "util/platform_adapter.py": """
        from impl.util import util_common
        class tbe_platform:
            name = 'host'
        def describe(x):
            return util_common.shape_of(x)
    """,
    "add.py": """
        from impl.util.platform_adapter import describe
        def add(x):
            return describe(x)
    """,
}


def _tree(root: Path) -> Path:
    for name, text in FILES.items():
        path = root / "impl" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root / "impl"


def _run(code: str, impl: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, str(impl)], capture_output=True,
                          text=True, timeout=60)


def test_an_operator_importing_one_side_of_the_cycle_first_loads(tmp_path):
    done = _run("import sys; from bce_grad.cann_compat.impl_path import use_impl_dir; "
                "use_impl_dir(sys.argv[1]); from impl.add import add; print(add(3))",
                _tree(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "host:3"


def test_without_the_shared_module_first_the_cycle_fails_as_it_did(tmp_path):
    """The same tree with SHARED_FIRST emptied: the ImportError the cases used to get."""
    done = _run("import sys; from bce_grad.cann_compat import impl_path; "
                "impl_path.SHARED_FIRST = (); impl_path.use_impl_dir(sys.argv[1]); "
                "from impl.add import add", _tree(tmp_path))
    assert done.returncode != 0 and "ImportError" in done.stderr, done.stderr[-2000:]
