"""Create the site's TLS material: a small CA and server certificates (ECDSA P-256, `cryptography`).

`init` creates the CA in --dir (ca.pem for every client's --ca-file / --cloud-ca-file, ca-key.pem 0600)
unless one is there already, and a server certificate <name>.pem with its key <name>-key.pem (0600) valid
for every --hosts entry (DNS names and IP addresses). Run it again with another --name to add a certificate
signed by the same CA (e.g. one for the edge and one for the cloud). An existing certificate is never
overwritten unless --replace is given (a running server may be using it).

Examples:
  edgewatch tls init --dir tls                                   # server.pem for 127.0.0.1, localhost, edge, cloud
  edgewatch tls init --dir tls --name cloud --hosts cloud.example.com,10.0.1.5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    init = actions.add_parser("init", help="site CA (reused if present) and one server certificate",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    init.add_argument("--dir", type=Path, required=True, help="folder for the PEM files")
    init.add_argument("--hosts", default="127.0.0.1,localhost,edge,cloud",
                      help="comma-separated host names/IP addresses the certificate is valid for "
                      "(default: 127.0.0.1,localhost,edge,cloud)")
    init.add_argument("--name", default="server", help="file name stem of the certificate (default: server)")
    init.add_argument("--days", type=int, default=825, help="validity of the server certificate (default: 825)")
    init.add_argument("--replace", action="store_true",
                      help="renew <name>.pem and its key when they exist (restart the server that uses them)")


def main(args: argparse.Namespace) -> int:
    from edgewatch.security.tls import TLSConfigError, init_site

    if args.days < 1:
        sys.stderr.write("edgewatch tls: --days must be positive\n")
        return 2
    try:
        files = init_site(args.dir, args.hosts.split(","), args.name, args.days, replace=args.replace)
    except (TLSConfigError, OSError) as exc:
        sys.stderr.write(f"edgewatch tls: {exc}\n")
        return 2
    sys.stdout.write(f"CA {args.dir / 'ca.pem'}\ncertificate {files.cert}\nkey {files.key}\n")
    return 0
