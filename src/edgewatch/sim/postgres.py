"""A throwaway PostgreSQL server for simulations, benchmarks and tests: a cluster made by ``initdb`` in a
temporary folder, listening on a 127.0.0.1 port, stopped (or killed) by the postmaster's own PID.

Uses the server binaries of Debian's ``postgresql`` package. As root the server runs as Debian's
``postgres`` user (``initdb`` refuses root). The password is random per cluster and never leaves the
process except inside :attr:`PgServer.url`.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL server's bin folder, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return Path(found[-1]).parent if found else None


class PgServer:
    """One cluster on ``port``; ``start``/``stop`` can be repeated (same data, same port).

    Raises ``RuntimeError`` when the server binaries are absent or the server does not start.
    """

    def __init__(self, port: int) -> None:
        bindir = postgres_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found (Debian package postgresql)")
        self.bindir = bindir
        self.port = port
        self.password = secrets.token_hex(16)
        self.root = Path(tempfile.mkdtemp(prefix="edgewatch-pg-"))
        self.data = self.root / "data"
        self.user = "postgres" if os.geteuid() == 0 else None
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self.user:
            shutil.chown(self.root, self.user)
            shutil.chown(pwfile, self.user)
        subprocess.run(
            [str(bindir / "initdb"), "-D", str(self.data), "-U", "edgewatch", "--pwfile", str(pwfile),
             "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True, user=self.user,
        )
        pwfile.unlink()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://edgewatch:{self.password}@127.0.0.1:{self.port}/postgres"

    def start(self, timeout: float = 30.0) -> PgServer:
        import psycopg

        with open(self.root / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.root),
                 "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"],
                stdout=subprocess.DEVNULL, stderr=log, user=self.user,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return self
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    tail = (self.root / "server.log").read_text(errors="replace")[-800:]
                    raise RuntimeError(f"postgres did not start: {tail}") from None
                time.sleep(0.2)

    def stop(self, sig: int = signal.SIGINT) -> None:
        """SIGINT is PostgreSQL's fast shutdown: clients are disconnected, data is kept."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(30)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
