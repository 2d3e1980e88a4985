"""The one ``edgewatch`` entry point: every sub-command present, documented, and strict about values."""

from __future__ import annotations

import subprocess
import sys

import pytest

from edgewatch.cli import COMMANDS, build_parser


def test_every_command_is_registered() -> None:
    parser = build_parser()
    registered = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert registered == set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_describes_command(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edgewatch", command, "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "usage: edgewatch " + command in result.stdout
    assert len(result.stdout.splitlines()) > 5


def test_bad_setting_exits_2_naming_field() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edgewatch", "edge", "--input-size", "100"],
        capture_output=True, text=True, check=False, timeout=60,
    )
    assert result.returncode == 2
    assert "input_size (command line)" in result.stderr
