"""Every command says what it does in its --help."""

import argparse

from pipelines.cli import build_parser


def test_every_command_has_a_help_line_and_a_description():
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in commands._choices_actions}
    for name, parser in commands.choices.items():
        assert helps.get(name), f"{name} has no help line"
        assert parser.description, f"{name} --help has no description"
