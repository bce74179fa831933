"""The SoC table's core counts and their sources.

canndev 2022 ships no platform_config ``*.ini`` files; its own SoC table
(``tools/tbe_toolkits/tbetoolkits/utilities/mappings.py``, ``platform2arch_dict``) states the
AI Core and vector core counts of the 2022 SoCs in comments ("2 ai 0 vec" ...). These are
the values pinned here; every entry names where its numbers come from.
"""
from __future__ import annotations

import json

import pytest

from bce_grad.host_backend import platform
from bce_grad.host_backend.soc_table import _TABLE_PATH, SOC_TABLE, soc_info

#: SoC -> (AI cores, vector cores) as canndev 2022's platform2arch_dict states them.
CANNDEV_CORES = {
    "Ascend310": (2, 0),
    "Ascend610": (10, 8),
    "Ascend615": (10, 8),
    "Ascend310P3": (8, 7),
    "Ascend310P1": (10, 8),
    "Ascend910": (32, 0),
    "Ascend910A": (32, 0),
}


@pytest.mark.parametrize("soc, cores", CANNDEV_CORES.items())
def test_core_counts_follow_canndev(soc: str, cores: tuple[int, int]) -> None:
    info = soc_info(soc)
    assert (info.core_num, info.vector_core_num) == cores
    assert "mappings.py" in info.source
    with platform.use_soc(soc):
        assert platform.get_soc_spec(platform.CORE_NUM) == cores[0]


def test_every_entry_names_its_source() -> None:
    raw = json.loads(_TABLE_PATH.read_text())
    assert "ini" in raw["_comment"] and "source" in raw["_comment"]
    for short, entry in SOC_TABLE.items():
        assert isinstance(entry.get("source"), str) and entry["source"], short
        assert soc_info(short).source == entry["source"]


def test_vector_core_num_is_none_where_no_source_states_it() -> None:
    assert soc_info("Ascend910B1").vector_core_num is None
    assert soc_info("Ascend910B1").core_num == 24
