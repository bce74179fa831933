"""The compat layer is process-wide: each test that installs it uninstalls it afterwards."""
from __future__ import annotations

import sys

import pytest


@pytest.fixture
def cann_layer():
    """Install ``bce_grad.cann_compat`` for one test; remove it (and its patches) afterwards."""
    import bce_grad.cann_compat as cann_compat

    cann_compat.install()
    try:
        yield cann_compat
    finally:
        cann_compat.uninstall()
        for name in [n for n in sys.modules if n.startswith("testcases.cann_compat.te_style")]:
            del sys.modules[name]
