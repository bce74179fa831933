"""The one cache root: where everything bce_grad writes at run time lives, and how it is trusted.

``$BCE_GRAD_CACHE`` is the root (default ``$XDG_CACHE_HOME/bce-grad``, else
``~/.cache/bce-grad``). It holds one named subfolder per kind of artefact
(:data:`SUBFOLDERS`): ``kernels/`` (the kernel cache), ``packages/`` (default kernel packages),
``runtime/`` (the native runtime library) and ``torch/``, ``tensorflow/``, ``mindspore/`` (the
framework adapters). Nothing else is written there, and ``bce-grad cache clear`` removes only
those subfolders' entries.

Code is loaded from these folders with ``dlopen``, so they are trusted as OpenSSH trusts
``~/.ssh``: folders are created ``0700``, and a folder or file that is group- or world-writable,
or owned by another user (root excepted), is refused (:func:`check_private`) with an error naming
it and what to do. A library built here records its SHA-256 in a sidecar ``<lib>.sha256``
(:func:`record_sha256`) and is checked against it before it is loaded (:func:`matches_record`).
"""
from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path

from bce_grad.host_backend.errors import OpValueError

CACHE_ENV = "BCE_GRAD_CACHE"
#: The root's subfolders, one per kind of artefact; ``cache clear`` touches nothing else.
SUBFOLDERS = ("kernels", "packages", "runtime", "torch", "tensorflow", "mindspore")
#: Suffix of the SHA-256 record written beside a library built in the cache.
SHA256_SUFFIX = ".sha256"


class UnverifiedLibraryWarning(RuntimeWarning):
    """A cached library did not match the SHA-256 recorded when it was built; it is rebuilt."""


def root() -> Path:
    """The cache root: ``$BCE_GRAD_CACHE``, else ``$XDG_CACHE_HOME/bce-grad``, else
    ``~/.cache/bce-grad``.

    Raises
    ------
    OpValueError
        E80000 naming ``BCE_GRAD_CACHE`` when it is set but empty, or names a file.
    """
    value = os.environ.get(CACHE_ENV)
    if value is None:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "bce-grad"
    if not value.strip():
        raise OpValueError("E80000", f"the environment variable[{CACHE_ENV}] should name the "
                           f"cache directory, but actually is empty; unset it to use "
                           f"~/.cache/bce-grad", param_name=CACHE_ENV)
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise OpValueError("E80000", f"the environment variable[{CACHE_ENV}] should name a "
                           f"directory, but [{value}] is a file", param_name=CACHE_ENV)
    return path


def folder(name: str) -> Path:
    """``<root>/<name>`` for one of :data:`SUBFOLDERS` (not created here)."""
    if name not in SUBFOLDERS:
        raise ValueError(f"unknown cache subfolder {name!r}; one of {SUBFOLDERS}")
    return root() / name


def check_private(path: str | os.PathLike, what: str = "folder") -> None:
    """Refuse ``path`` when another user could change it: group- or world-writable, or owned by
    someone other than this user or root (OpenSSH's rule for ``~/.ssh``).

    Raises
    ------
    OpValueError
        E80000 naming the path, what is wrong and what to do.
    """
    st = os.stat(path)
    uid = os.geteuid()
    if st.st_uid not in (0, uid):
        raise OpValueError("E80000", f"the cache {what} [{path}] is owned by user id {st.st_uid}, "
                           f"not by this user ({uid}); bce_grad loads code from its cache and "
                           f"refuses it: point ${CACHE_ENV} at a folder of your own",
                           param_name=CACHE_ENV)
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise OpValueError("E80000", f"the cache {what} [{path}] is writable by other users (mode "
                           f"{stat.S_IMODE(st.st_mode):04o}); bce_grad loads code from its cache "
                           f"and refuses it: run `chmod go-w {path}`, or point ${CACHE_ENV} at a "
                           f"private folder", param_name=CACHE_ENV)


def _make_private(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    else:
        os.chmod(path, 0o700)  # ours, just made: exactly 0700 whatever the umask
    check_private(path)


def private_folder(path: str | os.PathLike) -> Path:
    """Create ``path`` (and the cache root, when ``path`` lies in it) ``0700`` if missing, and
    check both with :func:`check_private`; returns ``path``.

    A folder that already exists keeps its mode (a user's own ``0755`` is accepted); one that
    others can write is refused, never changed.
    """
    path = Path(path)
    try:
        top = root()
    except OpValueError:
        top = None
    if top is not None and top != path and top in path.parents:
        _make_private(top)
    _make_private(path)
    return path


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_record(lib: str | os.PathLike) -> Path:
    """The sidecar holding ``lib``'s SHA-256: ``<lib>.sha256``."""
    lib = Path(lib)
    return lib.with_name(lib.name + SHA256_SUFFIX)


def record_sha256(lib: str | os.PathLike) -> str:
    """Write ``lib``'s SHA-256 to its sidecar (atomically: a temporary file renamed into place)."""
    digest = file_sha256(lib)
    record = sha256_record(lib)
    fd, tmp = tempfile.mkstemp(prefix=f".{record.name}.{os.getpid()}.", dir=record.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(digest + "\n")
        os.replace(tmp, record)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest


def matches_record(lib: str | os.PathLike) -> bool | None:
    """Whether ``lib`` matches the SHA-256 recorded when it was built: None when ``lib`` does
    not exist, False when it has no record or differs from it.

    Raises
    ------
    OpValueError
        E80000 (:func:`check_private`) when ``lib`` is writable by, or belongs to, another user.
    """
    lib = Path(lib)
    if not lib.is_file():
        return None
    check_private(lib, "file")
    try:
        recorded = sha256_record(lib).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return False
    return recorded == file_sha256(lib)
