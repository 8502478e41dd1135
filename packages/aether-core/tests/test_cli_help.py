"""Every command's help shows its options' defaults and an example, plugin options list the
registry's names, and an argument argparse refuses ends in one ``error:`` line (exit 2)."""

from __future__ import annotations

import argparse

import pytest
from aether.core.cli import build_parser, main
from aether.core.registry import default_registry

# the packages whose commands this test holds to it (aether-annotate's options are its own)
CHECKED = {"aether-annotate", "aether-core", "aether-tasks", "aether-train"}


def _commands(parser: argparse.ArgumentParser):
    """``(prog, parser)`` of ``parser`` and of every subcommand below it."""
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _commands(sub)


def _checked_commands():
    registry = default_registry()
    names = {e.name for e in registry.entries() if e.kind == "command" and e.distribution in CHECKED}
    top = build_parser(registry)
    subs = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return [("aether", top)] + [found for name in sorted(names) for found in _commands(subs.choices[name])]


COMMANDS = dict(_checked_commands())


def test_the_commands_of_every_package_are_checked():
    assert {"aether plugins", "aether model info", "aether eval depth", "aether reconstruct", "aether camera show",
            "aether benchmark pose", "aether train cache", "aether train export", "aether demo"} <= set(COMMANDS)


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_every_command_has_a_description_and_an_example(prog):
    parser = COMMANDS[prog]
    assert parser.description, prog
    assert parser.epilog and parser.epilog.startswith("examples:\n  aether"), prog
    assert parser.format_help().rstrip().endswith(parser.epilog.splitlines()[-1].strip())


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_every_option_with_a_default_shows_it(prog):
    parser = COMMANDS[prog]
    formatter = parser._get_formatter()
    for action in parser._actions:
        if action.option_strings and action.nargs != 0 and action.default not in (None, argparse.SUPPRESS, [], ()):
            text = formatter._expand_help(action) if action.help else ""
            assert "default" in text, (prog, action.option_strings)


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_every_default_is_written_one_way(prog):
    """``(default: X)`` everywhere, whether the formatter appends it or the help writes it by hand."""
    text = " ".join(COMMANDS[prog].format_help().split())
    assert "(default " not in text, (prog, text[text.find("(default "):][:60])


def test_a_default_is_appended_once():
    reconstruct = " ".join(COMMANDS["aether reconstruct"].format_help().split())
    assert "or DDIM (default: dpm)" in reconstruct and "(default: 0)" in reconstruct
    benchmark = " ".join(COMMANDS["aether benchmark depth"].format_help().split())
    assert "(default: bf16, as the release's evaluation) " in benchmark and benchmark.count("(default: bf16") == 1


@pytest.mark.parametrize("argv, message", [
    (["plugins", "--kind", "nope"], "aether plugins: argument --kind: invalid choice: 'nope'"),
    (["train", "export", "run-folder"], "aether train export: the following arguments are required: out"),
    (["eval", "pose", "a.txt"], "aether eval pose: the following arguments are required: gt"),
])
def test_argument_errors_end_in_one_line(argv, message, capsys):
    assert main(argv) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), lines
