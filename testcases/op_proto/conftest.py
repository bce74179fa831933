"""Session fixtures of the op proto checks: CANN's public headers, fetched once."""
from __future__ import annotations

from pathlib import Path

import pytest

from .cann_headers import HeadersUnavailable, ensure_headers
from .toolchain import unavailable


@pytest.fixture(scope="session")
def cann_headers() -> Path:
    """The extracted ``torch_npu/include`` of the pinned wheel (skips, or fails under CI=true)."""
    try:
        return ensure_headers()
    except HeadersUnavailable as error:
        reason = str(error)
    unavailable(reason)  # outside the except block, so the report shows the reason alone
