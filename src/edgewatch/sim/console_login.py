"""The demo's operator login for the web consoles: one operator with a random password.

The password is written to ``<run folder>/console-login.txt`` (mode 0600) and shown once on the demo's own
standard output, which is the user's screen, never a log. The operators file beside it holds only the
scrypt hash. Each demo run gets a new password.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from edgewatch.console.operators import OperatorsFile

DEMO_OPERATOR = "demo"


@dataclass(frozen=True, slots=True)
class ConsoleLogin:
    name: str
    password: str
    operators_file: Path
    password_file: Path


def create_console_login(run_dir: Path, name: str = DEMO_OPERATOR) -> ConsoleLogin:
    run_dir.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    operators_file = run_dir / "operators.json"
    OperatorsFile(operators_file).add(name, password, replace=True)
    password_file = run_dir / "console-login.txt"
    fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file from another run keeps no wider mode
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f"operator: {name}\npassword: {password}\n")
    return ConsoleLogin(name, password, operators_file, password_file)
