"""Generated deployment artefacts: ``aic-<soc>-ops-info.json`` for every SoC."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from bce_grad.tools.deploy.files import write_atomic
from bce_grad.tools.deploy.op_info import SOC_DIRS, load_op_info, op_info_json

#: Where ``bce-grad opinfo`` writes when ``--out`` is not given: ``build/op_info`` under the
#: current directory (``build/`` is ignored by git).
DEFAULT_OP_INFO_OUT = Path("build") / "op_info"


def ops_info_file_name(soc_dir: str) -> str:
    """CANN's file name for one SoC's op info: ``aic-<soc>-ops-info.json``."""
    return f"aic-{soc_dir}-ops-info.json"


def write_ops_info_json(out_dir: Path, soc_dirs: Iterable[str] = SOC_DIRS,
                        flat: bool = False) -> list[Path]:
    """Write ``<out_dir>/<soc>/aic-<soc>-ops-info.json`` for each SoC, atomically
    (``flat``: ``<out_dir>/aic-<soc>-ops-info.json``, the layout of the shipped
    ``op_info_cfg/compiled``).

    Every SoC is parsed and validated before the first file is written, so an invalid
    ``.ini`` leaves ``out_dir`` untouched.

    Parameters
    ----------
    out_dir : Path
        The directory that receives one sub-directory per SoC (``flat``: the files).
    soc_dirs : iterable of str
        SoC directory names; all of :data:`~bce_grad.tools.deploy.op_info.SOC_DIRS` by default.
    flat : bool
        Write the files into ``out_dir`` itself, without a directory per SoC.

    Returns
    -------
    list of Path
        The files written, in SoC order.
    """
    texts = {soc: op_info_json(load_op_info(soc)) for soc in soc_dirs}
    return [
        write_atomic(Path(out_dir) / ("" if flat else soc) / ops_info_file_name(soc), text)
        for soc, text in texts.items()
    ]
