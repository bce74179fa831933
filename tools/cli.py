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

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "bce_grad.tools.commands.demo",
    "bce_grad.tools.commands.run",
    "bce_grad.tools.commands.compile",
    "bce_grad.tools.commands.bench",
    "bce_grad.tools.commands.opinfo",
    "bce_grad.tools.commands.atc_json",
    "bce_grad.tools.commands.package",
    "bce_grad.tools.commands.ut",
    "bce_grad.tools.commands.st",
)

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors follow the project's one-line style."""

    def error(self, message: str) -> None:  # noqa: D401 - argparse API
        self.print_usage(sys.stderr)
        sys.stderr.write(f"error: [E80000] {message}\n")  # a bad option value or usage
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every registered subcommand."""
    parser = _Parser(
        prog="bce-grad",
        description=(
            "BinaryCrossEntropyGrad, a CANN TBE DSL operator. On machines without CANN it "
            "compiles and runs on the host backend (CANN's tbe API on Apache TVM)."
        ),
        epilog="Run 'bce-grad SUBCOMMAND --help' for the options of one subcommand.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", parser_class=_Parser)
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``bce-grad`` and return its exit code."""
    from bce_grad.host_backend.errors import OpError

    parser = build_parser()
    args = parser.parse_args(argv)
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
