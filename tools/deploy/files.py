"""File helpers for deployment: atomic writes and byte-reproducible tar.gz archives."""
from __future__ import annotations

import gzip
import io
import os
import tarfile
import tempfile
from pathlib import Path

#: Fixed modification time of every archive entry (2020-01-01T00:00:00Z).
FIXED_MTIME = 1577836800


def write_atomic(path: Path, data: str | bytes, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same directory.

    Readers see either the old file or the complete new one, never a partial write.

    Parameters
    ----------
    path : Path
        The file to create or replace; its parent directories are created.
    data : str or bytes
        The content; ``str`` is encoded as UTF-8.
    mode : int
        The permission bits of the result.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _tar_info(root: Path, path: Path, arc_prefix: str) -> tarfile.TarInfo:
    """A TarInfo with fixed owner and time; only the executable bit is kept."""
    rel = path.relative_to(root).as_posix()
    info = tarfile.TarInfo(f"{arc_prefix}/{rel}" if rel != "." else arc_prefix)
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if path.is_dir():
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        return info
    info.size = path.stat().st_size
    info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
    return info


def reproducible_tar_gz(src_dir: Path, out_file: Path, arc_prefix: str) -> Path:
    """Archive ``src_dir`` as ``out_file`` so that equal trees give identical bytes.

    Entries are sorted, owned by ``root:root`` (uid/gid 0), dated :data:`FIXED_MTIME`,
    and the gzip header carries mtime 0 and no file name.

    Parameters
    ----------
    src_dir : Path
        The tree to archive.
    out_file : Path
        The ``.tar.gz`` to write (atomically).
    arc_prefix : str
        The top directory name inside the archive.
    """
    src_dir = Path(src_dir)
    paths = [src_dir, *sorted(src_dir.rglob("*"), key=lambda p: p.relative_to(src_dir).as_posix())]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in paths:
            info = _tar_info(src_dir, path, arc_prefix)
            if info.isdir():
                tar.addfile(info)
                continue
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return write_atomic(Path(out_file), packed.getvalue())
