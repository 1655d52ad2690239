"""`--help` of the three programs, every command: each option and argument says what it means, each
option with a default says it, and the commands the running switch carries out say they need it."""
from __future__ import annotations

import argparse
from typing import Iterator

import pytest

from bank_sim.cli import parser as bank_parser
from switch.cli.main import build_parser as switch_parser
from terminal_sim.cli import build_parser as terminal_parser
from tests.e2e.conftest import run

# store_true flags default to False, which is "not given", not a default to state
SAYS_NOTHING = (None, False, argparse.SUPPRESS)


def commands(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, f"{path} {name}")


def options(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
            continue
        yield action


ALL = [(path, sub) for top, name in ((switch_parser(), "ppob-switch"), (terminal_parser(), "ppob-terminal"),
                                     (bank_parser(), "ppob-bank-sim"))
       for path, sub in commands(top, name)]


@pytest.mark.parametrize("path, parser", ALL, ids=[path for path, _ in ALL])
def test_every_option_and_argument_says_what_it_means_and_its_default(path, parser):
    for action in options(parser):
        name = "/".join(action.option_strings) or action.dest
        assert action.help and len(action.help) > 8, f"{path}: {name} has no help"
        if action.option_strings and action.default not in SAYS_NOTHING:
            assert "default" in action.help, f"{path}: {name} does not say its default {action.default!r}"


@pytest.mark.parametrize("path, parser", ALL, ids=[path for path, _ in ALL])
def test_every_command_has_a_one_line_summary(path, parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                assert choice.help, f"{path} {choice.dest} has no summary"


@pytest.mark.parametrize("command", ["cutover", "settle"])
def test_cutover_and_settle_say_they_need_a_running_serve(tmp_path, command):
    done = run("ppob-switch", command, "--help", cwd=tmp_path)
    assert done.returncode == 0 and "running `ppob-switch serve`" in " ".join(done.stdout.split())
    listed = run("ppob-switch", "--help", cwd=tmp_path).stdout
    summary = " ".join(listed.split()).split(f" {command} ", 1)[1]
    assert summary.startswith(("close", "settle")) and "needs a running serve" in summary[:90]


def test_only_commands_that_change_something_take_an_operator_for_the_audit_trail():
    audited = {path for path, parser in ALL if any("--operator" in a.option_strings for a in options(parser))}
    assert "ppob-switch terminal rekey" in audited and "ppob-switch agent topup" in audited
    assert not audited & {"ppob-switch agent list", "ppob-switch agent balance", "ppob-switch serve",
                          "ppob-switch recon", "ppob-switch terminal list", "ppob-switch audit"}
