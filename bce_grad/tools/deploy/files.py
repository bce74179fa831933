"""File helpers: atomic writes, safe user-named outputs and byte-reproducible tar.gz archives."""
from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
import tempfile
from pathlib import Path

from bce_grad.host_backend.errors import OpError

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


def current_umask() -> int:
    """The process umask, read without changing it (``/proc/self/status`` on Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def _output_error(param: str, path: str, rule: str) -> OpError:
    return OpError("E80000", f"the parameter[{param}] should name {rule}, but actually is [{path}]",
                   param_name=param)


def write_output(path: str | os.PathLike, data: bytes, param: str = "--out") -> Path:
    """Write a file the user named, the way a careful shell redirect would.

    - A symlink is followed: its target is replaced atomically and the link stays.
    - A regular file is replaced atomically and keeps its permission bits; a read-only
      one is refused. A new file gets ``0o666`` less the umask.
    - A FIFO or a character device (``/dev/null``) is written in place, never renamed.
    - A directory, a missing or non-directory parent and an unwritable directory are
      refused. Every refusal is an :class:`OpError` naming ``param``; nothing is left.

    Returns
    -------
    Path
        The file written (the symlink's target when ``path`` is a link).
    """
    shown = os.fspath(path)
    target = Path(os.path.realpath(shown))
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    except NotADirectoryError:
        raise _output_error(param, shown, "a file in a directory (a parent is a file)") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise _output_error(param, shown, "a file (this is a directory)")
    if info is not None and not stat.S_ISREG(info.st_mode):
        try:  # FIFO, character device: write in place, as `> path` in a shell does
            with open(target, "wb") as handle:
                handle.write(data)
        except OSError as err:
            raise _output_error(param, shown, f"a writable file ({err.strerror})") from None
        return target
    if info is not None and (not info.st_mode & 0o222 or not os.access(target, os.W_OK)):
        raise _output_error(param, shown, "a writable file (this file is read-only)")
    parent = target.parent
    if not parent.is_dir():
        rule = "a file in a directory (a parent is a file)" if parent.exists() else \
            f"a file in an existing directory ({parent} does not exist)"
        raise _output_error(param, shown, rule)
    mode = stat.S_IMODE(info.st_mode) if info is not None else 0o666 & ~current_umask()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    except OSError as err:
        raise _output_error(param, shown, f"a file in a writable directory ({err.strerror})") \
            from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise _output_error(param, shown, f"a writable file ({err.strerror})") from None
        raise
    return target


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
