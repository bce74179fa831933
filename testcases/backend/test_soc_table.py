"""The SoC table and the platform queries that answer from it."""
from __future__ import annotations

import pytest

from bce_grad.host_backend import platform
from bce_grad.host_backend.errors import OpError
from bce_grad.host_backend.soc_table import known_soc_versions, short_soc_version, soc_info

SHORT = {
    "Ascend910A": "Ascend910", "Ascend910ProB": "Ascend910", "Ascend910PremiumA": "Ascend910",
    "Ascend910B1": "Ascend910B", "Ascend910B4": "Ascend910B",
    "Ascend910_9391": "Ascend910_93", "Ascend910_9362": "Ascend910_93",
    "Ascend310P3": "Ascend310P", "Ascend950PR_9599": "Ascend950", "Ascend950DT_9591": "Ascend950",
    "Ascend310B1": "Ascend310B", "Ascend310B4": "Ascend310B",
}


@pytest.mark.parametrize("full, short", SHORT.items())
def test_full_version_maps_to_short(full: str, short: str) -> None:
    assert short_soc_version(full) == short
    with platform.use_soc(full):
        assert platform.get_soc_spec(platform.SOC_VERSION) == full
        assert platform.get_soc_spec(platform.SHORT_SOC_VERSION) == short
        assert platform.get_soc_spec(platform.CORE_NUM) > 0
        assert platform.get_soc_spec(platform.UB_SIZE) >= 128 * 1024


@pytest.mark.parametrize("soc, bf16", [("Ascend910A", False), ("Ascend310P3", False),
                                       ("Ascend910B1", True), ("Ascend910_9391", True),
                                       ("Ascend950PR_9599", True)])
def test_api_check_support_follows_the_table(soc: str, bf16: bool) -> None:
    with platform.use_soc(soc):
        assert platform.api_check_support("tbe.dsl.vmul", "float32") is True
        assert platform.api_check_support("te.lang.cce.vmul", "float16") is True
        assert platform.api_check_support("tbe.dsl.vmul", "bfloat16") is bf16
        assert platform.api_check_support("tbe.dsl.cast_to", "f322bf16") is bf16
        assert platform.api_check_support("tbe.dsl.no_such_api", "float32") is False


def test_entry_without_fp32_vector_reports_it(fp16_only_soc: str) -> None:
    with platform.use_soc(fp16_only_soc):
        assert platform.api_check_support("tbe.dsl.vmul", "float32") is False
        assert platform.api_check_support("tbe.dsl.vmul", "float16") is True


def test_unknown_soc_lists_the_known_ones() -> None:
    with pytest.raises(OpError) as err:
        platform.set_current_compile_soc_info("Ascend999")
    assert err.value.code == "E80000"
    assert "Ascend999" in str(err.value) and "Ascend910B1" in str(err.value)
    assert len(known_soc_versions()) >= 30


def test_soc_info_core_num_per_version() -> None:
    assert soc_info("Ascend910ProB").core_num == 30
    assert soc_info("Ascend910A").core_num == 32


def test_bad_spec_key_is_refused() -> None:
    with pytest.raises(OpError, match="get_soc_spec"):
        platform.get_soc_spec("NO_SUCH_KEY")
