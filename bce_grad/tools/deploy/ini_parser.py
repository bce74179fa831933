"""Parse op info ``.ini`` text the way CANN's ``parse_ini_to_json.py`` does, but strictly.

CANN's rules: lines are right-stripped and blank lines skipped; ``[OpType]`` opens an op;
every other line is split at the **first** ``=``; the key is split at ``.`` into exactly
two parts (``input0.name`` -> ``{"input0": {"name": ...}}``); values stay verbatim
strings. Where CANN crashes with a bare ``ValueError`` (no ``=``, a bad key) this parser
raises :class:`OpInfoError` naming the file, the line and the rule. It also remembers the
line of every key, so that later validation can point at the offending line.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from bce_grad.host_backend.errors import OpError

#: A key part: letters, digits and underscores, as every CANN op info key is spelled.
_KEY_PART = re.compile(r"[A-Za-z0-9_]+")


class OpInfoError(OpError):
    """Invalid op info content, with the file and line that hold the fault.

    Parameters
    ----------
    path : str
        The ``.ini`` file.
    line : int
        The 1-based line number (the section header for a missing key).
    rule : str
        The rule that was broken, e.g. ``"duplicate key"``.
    detail : str
        What was found and what was expected.
    """

    def __init__(self, path: str, line: int, rule: str, detail: str) -> None:
        self.path = path
        self.line = line
        self.rule = rule
        super().__init__("E80000", f"{path}:{line}: {rule}: {detail}", param_name=rule)


@dataclass
class ParsedIni:
    """The JSON-like content of op info files and where each key came from.

    Attributes
    ----------
    ops : dict
        ``{op_type: {key1: {key2: value}}}``, values verbatim strings.
    key_lines : dict
        ``{(op_type, key1, key2): (path, line)}`` for every key.
    group_lines : dict
        ``{(op_type, key1): (path, line)}``, the first line of each ``key1`` group.
    op_lines : dict
        ``{op_type: (path, line)}``, the ``[OpType]`` header of each op.
    """

    ops: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    key_lines: dict[tuple[str, str, str], tuple[str, int]] = field(default_factory=dict)
    group_lines: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)
    op_lines: dict[str, tuple[str, int]] = field(default_factory=dict)

    def where(self, op_type: str, key1: str, key2: str | None = None) -> tuple[str, int]:
        """Return ``(path, line)`` of a key, of its group, or of the op header."""
        if key2 is not None and (op_type, key1, key2) in self.key_lines:
            return self.key_lines[(op_type, key1, key2)]
        if (op_type, key1) in self.group_lines:
            return self.group_lines[(op_type, key1)]
        return self.op_lines[op_type]


def _split_key(path: str, lineno: int, key: str) -> tuple[str, str]:
    """Split ``key1.key2`` into its two parts, or raise naming the rule."""
    parts = key.split(".")
    if len(parts) != 2:
        raise OpInfoError(
            path, lineno, "bad key",
            f"key {key!r} must have exactly one '.' (key1.key2), found {len(parts) - 1}",
        )
    for part in parts:
        if not _KEY_PART.fullmatch(part):
            raise OpInfoError(
                path, lineno, "bad key",
                f"key {key!r}: part {part!r} must be letters, digits or '_' (no spaces)",
            )
    return parts[0], parts[1]


def _open_op(parsed: ParsedIni, path: str, lineno: int, line: str) -> str:
    """Handle an ``[OpType]`` header line and return the op type."""
    op_type = line[1:-1]
    if not line.endswith("]") or not _KEY_PART.fullmatch(op_type):
        raise OpInfoError(path, lineno, "bad section", f"{line!r} is not an '[OpType]' header")
    if op_type in parsed.ops:
        first_path, first_line = parsed.op_lines[op_type]
        raise OpInfoError(
            path, lineno, "duplicate op",
            f"[{op_type}] is already defined at {first_path}:{first_line}",
        )
    parsed.ops[op_type] = {}
    parsed.op_lines[op_type] = (path, lineno)
    return op_type


def _add_key(parsed: ParsedIni, op_type: str, path: str, lineno: int, line: str) -> None:
    """Handle one ``key1.key2=value`` line of the op ``op_type``."""
    if "=" not in line:
        raise OpInfoError(path, lineno, "no '='", f"line {line!r} is not 'key1.key2=value'")
    key, value = line.split("=", 1)
    key1, key2 = _split_key(path, lineno, key)
    group = parsed.ops[op_type].setdefault(key1, {})
    if key2 in group:
        first_path, first_line = parsed.key_lines[(op_type, key1, key2)]
        raise OpInfoError(
            path, lineno, "duplicate key",
            f"{key1}.{key2} of [{op_type}] is repeated (first at {first_path}:{first_line})",
        )
    group[key2] = value
    parsed.key_lines[(op_type, key1, key2)] = (path, lineno)
    parsed.group_lines.setdefault((op_type, key1), (path, lineno))


def parse_ini_text(text: str, path: str, parsed: ParsedIni | None = None) -> ParsedIni:
    """Parse the text of one op info ``.ini`` file.

    Parameters
    ----------
    text : str
        The file's content.
    path : str
        The file name to put in error messages.
    parsed : ParsedIni, optional
        Results of earlier files to merge into; an op defined twice is an error.

    Returns
    -------
    ParsedIni
        ``parsed`` (or a new one) with this file's ops added.

    Raises
    ------
    OpInfoError
        For a line with no ``=``, a key that is not ``key1.key2``, a repeated key or op,
        a bad ``[OpType]`` header, or a key line before any header.
    """
    parsed = parsed if parsed is not None else ParsedIni()
    op_type: str | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if not line:
            continue
        if line.startswith("["):
            op_type = _open_op(parsed, path, lineno, line)
            continue
        if op_type is None:
            raise OpInfoError(path, lineno, "outside a section", f"{line!r} comes before any '[OpType]'")
        _add_key(parsed, op_type, path, lineno, line)
    return parsed


def parse_ini_files(paths: list[Path]) -> ParsedIni:
    """Parse and merge several ``.ini`` files, as CANN merges one SoC directory."""
    parsed = ParsedIni()
    for path in paths:
        parse_ini_text(Path(path).read_text(encoding="utf-8"), str(path), parsed)
    return parsed
