"""Fixtures for the host backend tests."""
from __future__ import annotations

from typing import Iterator

import pytest

from host_backend.soc_table import add_soc, remove_soc


@pytest.fixture
def fp16_only_soc() -> Iterator[str]:
    """A SoC-table entry whose vector unit lacks float32, like the SoCs CANN's fp16 branch targets."""
    add_soc("AscendTestFp16", ["AscendTestFp16V1"], fp32_vector=False, bf16=False)
    yield "AscendTestFp16V1"
    remove_soc("AscendTestFp16")
