"""Fixtures of the console tests: an operators file, logged-in HTTP clients, a real edge with its console."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from edgewatch.console.operators import OperatorsFile

OPERATOR, PASSWORD = "alice", "alice-console-password"
ASSETS = Path(__file__).resolve().parents[2] / "src" / "edgewatch" / "sim" / "assets"


@pytest.fixture(scope="module")
def operators_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("operators") / "operators.json"
    OperatorsFile(path).add(OPERATOR, PASSWORD)
    return path


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has a form token"
    return found.group(1)


def login(client: httpx.Client, name: str = OPERATOR, password: str = PASSWORD) -> httpx.Response:
    """Log in through the real login form; returns the answer to the POST."""
    token = csrf_of(client.get("/console/login").text)
    return client.post("/console/login", data={"csrf": token, "name": name, "password": password,
                                               "next": "/console/"})
