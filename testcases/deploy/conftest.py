"""Fixtures of the deployment tests."""
from __future__ import annotations

from typing import Callable

import pytest

#: The subcommands this test folder covers.
DEPLOY_COMMANDS = ("bce_grad.tools.commands.opinfo", "bce_grad.tools.commands.atc_json", "bce_grad.tools.commands.package")


@pytest.fixture(scope="session")
def deploy_commands() -> tuple[str, ...]:
    """The subcommand modules this test folder covers."""
    return DEPLOY_COMMANDS


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., int]:
    """Run ``bce-grad`` through ``bce_grad.tools.cli.main`` with the deploy subcommands only.

    The other subcommands belong to other parts of the project; loading only these keeps
    a failure there from masking (or faking) a result here. ``test_cli_lists_deploy_commands``
    checks that the real CLI registers them.
    """
    import bce_grad.tools.cli

    monkeypatch.setattr(bce_grad.tools.cli, "COMMAND_MODULES", DEPLOY_COMMANDS)

    def run(*argv: str) -> int:
        try:
            return bce_grad.tools.cli.main(list(argv))
        except SystemExit as exc:  # argparse usage errors
            return int(exc.code)

    return run
