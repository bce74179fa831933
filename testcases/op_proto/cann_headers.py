"""CANN's public graph headers, taken from the pinned torch-npu wheel without installing it.

``pip download --no-deps`` fetches the wheel; only ``torch_npu/include/`` is extracted, into a
temporary directory that is renamed into place once complete. A marker file, written last,
records the sha256 of every extracted file, and a cached tree is reused only when it matches.

Layout: ``$XDG_CACHE_HOME`` (or ``~/.cache``) ``/bce-grad/torch-npu-2.14.0/include``.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

PIN = "torch-npu==2.14.0"
WHEEL_PREFIX = "torch_npu/include/"
MARKER = ".bce-grad-complete.json"
REQUIRED = ("graph/operator_reg.h", "graph/operator.h", "graph/operator_factory.h",
            "graph/tensor.h", "graph/types.h")


class HeadersUnavailable(RuntimeError):
    """The headers could not be downloaded or extracted; the message says why."""


def cache_dir() -> Path:
    """The cache directory of the pinned wheel's headers."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bce-grad" / PIN.replace("==", "-")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def is_complete(include: Path) -> bool:
    """Whether ``include`` is a whole extracted tree: its marker matches every file's hash."""
    try:
        record = json.loads((include / MARKER).read_text())
        files = record["files"]
        return (record["pin"] == PIN and all(name in files for name in REQUIRED)
                and all(_sha256(include / name) == digest for name, digest in files.items()))
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _download(into: Path) -> Path:
    """Download the pinned wheel, without dependencies, into ``into``; return its path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "--retries", "1", "--timeout", "30", PIN, "-d", str(into)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(into.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise HeadersUnavailable(f"`pip download --no-deps {PIN}` failed "
                                 f"(exit {done.returncode}): {last}")
    return wheels[0]


def _extract(wheel: Path, into: Path) -> None:
    """Extract ``torch_npu/include/`` of ``wheel`` into ``into``, then write the marker."""
    digests: dict[str, str] = {}
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if not info.filename.startswith(WHEEL_PREFIX) or info.is_dir():
                continue
            name = info.filename[len(WHEEL_PREFIX):]
            if ".." in PurePosixPath(name).parts or name.startswith("/"):
                raise HeadersUnavailable(f"{wheel.name} holds an unsafe path {info.filename!r}")
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, open(target, "wb") as sink:
                shutil.copyfileobj(source, sink)
            digests[name] = _sha256(target)
    missing = [name for name in REQUIRED if name not in digests]
    if missing:
        raise HeadersUnavailable(f"{wheel.name} lacks {WHEEL_PREFIX}{missing[0]}")
    record = {"pin": PIN, "wheel": wheel.name, "wheel_sha256": _sha256(wheel), "files": digests}
    (into / MARKER).write_text(json.dumps(record, indent=1, sort_keys=True))


def ensure_headers() -> Path:
    """Return the directory holding ``graph/operator_reg.h``, downloading it if needed.

    Raises
    ------
    HeadersUnavailable
        If the wheel cannot be downloaded or does not hold the headers.
    """
    root = cache_dir()
    include = root / "include"
    if is_complete(include):
        return include
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix="staging-") as staging:
        staged = Path(staging) / "include"
        staged.mkdir()
        _extract(_download(Path(staging) / "wheel"), staged)
        if include.exists():  # a stale or partial tree: move it aside, it goes with staging
            include.rename(Path(staging) / "stale")
        try:
            staged.rename(include)
        except OSError:
            if not is_complete(include):  # another run won the race with a broken tree
                raise
    return include
