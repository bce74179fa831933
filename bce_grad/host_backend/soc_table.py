"""The SoC table: full SoC versions, their short versions and capabilities.

The facts live in ``soc_table.json`` beside this module; this module only reads
them. Code asks questions (:func:`short_soc_version`, :func:`soc_info`) instead of
branching on SoC names.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bce_grad.host_backend.errors import OpError

_TABLE_PATH = Path(__file__).with_name("soc_table.json")


@dataclass(frozen=True)
class SocInfo:
    """Capabilities of one full SoC version.

    Attributes
    ----------
    soc_version : str
        The full version, such as ``"Ascend910B1"``.
    short_soc_version : str
        The family, such as ``"Ascend910B"``.
    core_num : int
        AI cores (the platform ini's ``ai_core_cnt``).
    ub_size : int
        Unified buffer bytes per core.
    fp32_vector : bool
        Whether vector arithmetic accepts float32.
    bf16 : bool
        Whether bfloat16 is supported.
    vector_core_num : int or None
        Vector cores (``vector_core_cnt``) where the table's source states it, else None.
    source : str
        Where the entry's numbers come from (the table entry's ``source``).
    """

    soc_version: str
    short_soc_version: str
    core_num: int
    ub_size: int
    fp32_vector: bool
    bf16: bool
    vector_core_num: int | None = None
    source: str = ""


def _load(path: Path = _TABLE_PATH) -> dict[str, dict]:
    with path.open(encoding="utf-8") as handle:
        raw = json.load(handle)
    return {key: value for key, value in raw.items() if not key.startswith("_")}


#: Short SoC version -> its raw entry. Tests may add entries with :func:`add_soc`.
SOC_TABLE: dict[str, dict] = _load()


def known_soc_versions() -> list[str]:
    """Return every full SoC version in the table, in table order."""
    return [version for entry in SOC_TABLE.values() for version in entry["soc_versions"]]


def short_soc_version(soc_version: str) -> str:
    """Map a full SoC version (or a short one) to its short version.

    Parameters
    ----------
    soc_version : str
        ``"Ascend910B1"``, or already short, such as ``"Ascend910B"``.

    Raises
    ------
    OpError
        E80000 when the SoC is unknown; the message lists the known ones.
    """
    if soc_version in SOC_TABLE:
        return soc_version
    for short, entry in SOC_TABLE.items():
        if soc_version in entry["soc_versions"]:
            return short
    raise OpError(
        "E80000",
        f"the parameter[soc_version] should be a known SoC, but actually is [{soc_version}]; "
        f"known SoCs: {', '.join(known_soc_versions())}",
        param_name="soc_version",
    )


def canonical_soc(text: str) -> str:
    """Spell a SoC as the table does, from any spelling a user may type.

    A full version (``Ascend910B1``), a short version (``Ascend910B``) and an op info
    directory name (``ascend910b``) are accepted, in any case, and returned as the
    table spells them (full stays full, short stays short).

    Raises
    ------
    OpError
        E80000 when no SoC matches; the message lists the known ones.
    """
    wanted = str(text).strip().lower()
    for short, entry in SOC_TABLE.items():
        if wanted == short.lower():
            return short
        for full in entry["soc_versions"]:
            if wanted == full.lower():
                return full
    return short_soc_version(str(text))  # raises the error listing the known SoCs


def soc_info(soc_version: str) -> SocInfo:
    """Return the capabilities of ``soc_version`` (full or short)."""
    short = short_soc_version(soc_version)
    entry = SOC_TABLE[short]
    full = soc_version if soc_version != short else entry["soc_versions"][0]
    cores = entry["core_num"]
    vector = entry.get("vector_core_num")
    return SocInfo(
        soc_version=full,
        short_soc_version=short,
        core_num=int(cores.get(full, cores["default"])),
        ub_size=int(entry["ub_size"]),
        fp32_vector=bool(entry["fp32_vector"]),
        bf16=bool(entry["bf16"]),
        vector_core_num=None if vector is None else int(vector.get(full, vector["default"])),
        source=str(entry.get("source", "")),
    )


def add_soc(short: str, soc_versions: list[str], **caps: object) -> None:
    """Add (or replace) a table entry, for tests and experiments.

    Parameters
    ----------
    short : str
        The short SoC version.
    soc_versions : list of str
        Its full versions.
    **caps
        ``core_num`` (int), ``ub_size``, ``fp32_vector``, ``bf16``.
    """
    core_num = caps.get("core_num", 1)
    SOC_TABLE[short] = {
        "soc_versions": list(soc_versions),
        "core_num": {"default": core_num},
        "ub_size": caps.get("ub_size", 262144),
        "fp32_vector": caps.get("fp32_vector", True),
        "bf16": caps.get("bf16", False),
    }


def remove_soc(short: str) -> None:
    """Remove an entry added with :func:`add_soc`."""
    SOC_TABLE.pop(short, None)
