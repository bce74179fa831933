"""``bce-grad``: the command line of the BinaryCrossEntropyGrad operator project.

Every subcommand lives in its own module, which exposes ``register(subparsers)``.
The module adds one parser and sets ``func`` (``args -> int exit code``) on it.
Errors raised as :class:`bce_grad.host_backend.errors.OpError` (bad input, CANN error code
attached) end the command with exit code 2 and a one-line ``error: ...`` on stderr.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from bce_grad._version import __version__

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "bce_grad.tools.commands.demo",
    "bce_grad.tools.commands.run",
    "bce_grad.tools.commands.compile",
    "bce_grad.tools.commands.aot",
    "bce_grad.tools.commands.bench",
    "bce_grad.tools.commands.opinfo",
    "bce_grad.tools.commands.atc_json",
    "bce_grad.tools.commands.package",
    "bce_grad.tools.commands.ut",
    "bce_grad.tools.commands.st",
    "bce_grad.tools.commands.cache",
    "bce_grad.tools.commands.op_ut_run",
    "bce_grad.tools.commands.op_ut_breadth",
)

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors follow the project's one-line style."""

    def error(self, message: str) -> None:  # noqa: D401 - argparse API
        self.print_usage(sys.stderr)
        # CANN's codes: E80001 a mandatory parameter is missing, E80000 an invalid value.
        code = "E80001" if message.startswith("the following arguments are required") else "E80000"
        sys.stderr.write(f"error: [{code}] {message}\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every registered subcommand."""
    parser = _Parser(
        prog="bce-grad",
        description=(
            "BinaryCrossEntropyGrad, a CANN TBE DSL operator. On machines without CANN it "
            "compiles and runs on the host backend (CANN's tbe API on Apache TVM)."
        ),
        epilog="Run 'bce-grad SUBCOMMAND --help' for the options of one subcommand. "
               "'python -m bce_grad' is the same command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", parser_class=_Parser)
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


#: Options whose value may start with a minus sign (a dynamic dim: ``--shape -1,1024``).
NEGATIVE_VALUE_OPTIONS = ("--shape",)


def join_negative_values(argv: Sequence[str]) -> list[str]:
    """``--shape -1,1024`` as ``--shape=-1,1024``: argparse takes ``-1,1024`` for an option.

    argparse reads a token that starts with ``-`` as a value only when it is a plain negative
    number (``-1``), so a dynamic shape such as ``-1,1024`` would fail with "expected one
    argument".
    """
    out: list[str] = []
    tokens = list(argv)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "--":
            out.extend(tokens[i:])
            break
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token in NEGATIVE_VALUE_OPTIONS and following[:1] == "-" and following[1:2].isdigit():
            out.append(f"{token}={following}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``bce-grad`` and return its exit code."""
    from bce_grad.host_backend.errors import OpError

    parser = build_parser()
    args = parser.parse_args(join_negative_values(sys.argv[1:] if argv is None else argv))
    try:
        return int(args.func(args) or EXIT_OK)
    except OpError as err:
        sys.stderr.write(f"error: {err}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
