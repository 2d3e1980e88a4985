"""The demo's credentials and TLS material, made in its run folder with no manual step.

Every camera and the alarm node get their own credential (``edgewatch credentials``' library): the edge's
``credentials/edge-credentials.json`` holds the digests, each node's token is in ``credentials/<node>.token``
(0600) and reaches the node as ``--node-token-file PATH``: a path on the command line, never the token.
With ``tls`` a site CA and a certificate for 127.0.0.1 are made in ``tls/`` and every link uses them.
"""

from __future__ import annotations

import os
import shutil
import ssl
from dataclasses import dataclass
from pathlib import Path

from edgewatch.security.credentials import issue
from edgewatch.security.tls import client_context, init_site


@dataclass(frozen=True, slots=True)
class DemoSecurity:
    credentials: Path
    tokens: Path
    tls_dir: Path | None

    @classmethod
    def create(cls, run_dir: Path, site_id: str, cameras: int, tls: bool) -> DemoSecurity:
        folder = run_dir / "credentials"
        shutil.rmtree(folder, ignore_errors=True)  # a new run: new tokens, nothing reused
        folder.mkdir(parents=True)
        os.chmod(folder, 0o700)
        file = folder / "edge-credentials.json"
        nodes = [("alarm", "alarm1")] + [("camera", f"cam{i + 1}") for i in range(cameras)]
        for role, node_id in nodes:
            token = issue(file, role, site_id, node_id)
            fd = os.open(folder / f"{node_id}.token", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(token + "\n")
        tls_dir = None
        if tls:
            tls_dir = run_dir / "tls"
            shutil.rmtree(tls_dir, ignore_errors=True)
            init_site(tls_dir, ["127.0.0.1", "localhost"])
        return cls(file, folder, tls_dir)

    def server_args(self) -> list[str]:
        if self.tls_dir is None:
            return []
        return ["--tls-cert", str(self.tls_dir / "server.pem"), "--tls-key", str(self.tls_dir / "server-key.pem")]

    def edge_args(self) -> list[str]:
        args = ["--credentials-file", str(self.credentials), *self.server_args()]
        if self.tls_dir is not None:
            args += ["--cloud-ca-file", str(self.tls_dir / "ca.pem")]
        return args

    def node_args(self, node_id: str) -> list[str]:
        args = ["--node-token-file", str(self.tokens / f"{node_id}.token")]
        if self.tls_dir is not None:
            args += ["--ca-file", str(self.tls_dir / "ca.pem")]
        return args

    def verify(self) -> ssl.SSLContext | bool:
        """What the demo's own readiness checks verify the servers with."""
        return client_context(self.tls_dir / "ca.pem") if self.tls_dir is not None else True
