"""Manage operator accounts of the web consoles (edge and cloud, at /console): add, list, remove.

Passwords never go on the command line (every local user can read argv with ps): `add` reads the password
from $EDGEWATCH_OPERATOR_PASSWORD, from standard input with --password-stdin, or from a prompt. The file
holds scrypt hashes only and is created with mode 0600. A running console picks changes up at once;
removing an operator ends their sessions.

Examples:
  edgewatch operators --file operators.json add alice                  # prompts twice
  printf '%s\\n' "$PW" | edgewatch operators --file operators.json add bob --password-stdin
  edgewatch operators --file operators.json list
  edgewatch operators --file operators.json remove bob
Then serve the consoles with `edgewatch edge --operators-file operators.json` (and the same for cloud).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PASSWORD_ENV = "EDGEWATCH_OPERATOR_PASSWORD"
FILE_ENV = "EDGEWATCH_OPERATORS_FILE"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--file", type=Path, default=None, metavar="FILE",
                        help=f"operators file (env {FILE_ENV}; default edgewatch-operators.json)")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add an operator (password from env, stdin or a prompt)")
    add.add_argument("name")
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    add.add_argument("--replace", action="store_true", help="set a new password for an existing operator")
    sub.add_parser("list", help="list operator names")
    remove = sub.add_parser("remove", help="remove an operator (ends their sessions)")
    remove.add_argument("name")


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise ValueError(f"no password: set {PASSWORD_ENV}, use --password-stdin, or run in a terminal")
    import getpass

    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def main(args: argparse.Namespace) -> int:
    from edgewatch.console.operators import OperatorsError, OperatorsFile, check_name

    path = args.file or Path(os.environ.get(FILE_ENV, "edgewatch-operators.json"))
    operators = OperatorsFile(path)
    try:
        if args.action == "list":
            for name in operators.names():
                print(name)
            return 0
        if args.action == "remove":
            operators.remove(args.name)
            print(f"removed operator {args.name}")
            return 0
        check_name(args.name)
        operators.add(args.name, _password(args), replace=args.replace)
        print(f"operator {args.name} saved in {operators.path}")
        return 0
    except (OperatorsError, ValueError, OSError) as exc:
        sys.stderr.write(f"edgewatch operators: {exc}\n")
        return 2
