"""Issue, list and revoke the per-node credentials an edge checks (its --credentials-file).

Each camera or alarm node gets a random 256-bit token bound to its role, site and node id. The file keeps
only SHA-256 digests (created 0600); the token is shown ONCE, on standard output or in --out (0600), and
goes to the node in its environment (EDGEWATCH_NODE_TOKEN) or a file (--node-token-file). A running edge
picks up changes within about a second: revoking a node disconnects its live session.

Examples:
  edgewatch credentials issue --file edge-credentials.json --role camera --site site1 --id cam1 --out cam1.token
  edgewatch credentials list --file edge-credentials.json
  edgewatch credentials revoke --file edge-credentials.json --site site1 --id cam1
  edgewatch credentials init --file secrets/edge-credentials.json --out-dir secrets --site site1 \\
      --cameras cam1,cam2 --alarms alarm1     # idempotent: what containers' init steps run
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from edgewatch.protocol import NodeRole

DIGESTS_ENV = "EDGEWATCH_NODE_DIGESTS"


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    issue = actions.add_parser("issue", help="create a node's credential and print (or write) its token once")
    revoke = actions.add_parser("revoke", help="revoke a node's credential (its live session is cut)")
    listing = actions.add_parser("list", help="list credentials (role, site, node, status; never tokens)")
    init = actions.add_parser("init", help="credentials for a whole site, token files <node>.token in --out-dir "
                              "(0600); nodes that already have both are kept (safe to re-run)")
    init.add_argument("--out-dir", type=Path, required=True, help="folder for the nodes' token files")
    init.add_argument("--site", required=True, help="the site id")
    init.add_argument("--cameras", default="", help="comma-separated camera ids")
    init.add_argument("--alarms", default="", help="comma-separated alarm node ids")
    load = actions.add_parser("load", help=f"set the active credentials from digests in ${DIGESTS_ENV} "
                              "(role:site:node:sha256,...; what Terraform renders); others are revoked")
    listing.add_argument("--digests", action="store_true",
                         help=f"print the active credentials as one {DIGESTS_ENV}=... line (digests, no tokens)")
    for sub in (issue, revoke, listing, init, load):
        sub.add_argument("--file", type=Path, required=True, metavar="FILE", help="the edge's credentials file")
    for sub in (issue, revoke):
        sub.add_argument("--site", required=True, help="the node's site id")
        sub.add_argument("--id", dest="node_id", required=True, help="the node's id (camera id or alarm node id)")
    issue.add_argument("--role", required=True, choices=[r.value for r in NodeRole], help="camera or alarm")
    revoke.add_argument("--role", default=None, choices=[r.value for r in NodeRole], help="only this role")
    issue.add_argument("--out", type=Path, default=None, metavar="TOKENFILE",
                       help="write the token to this file (created 0600, must not exist) instead of stdout")
    issue.add_argument("--replace", action="store_true", help="revoke the node's active credential first")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")


def _write_token(path: Path, token: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    os.chmod(path, 0o600)


def main(args: argparse.Namespace) -> int:
    from edgewatch.protocol import Hello, ProtocolError, decode
    from edgewatch.security.credentials import CredentialsError, describe, issue, read_credentials, revoke

    try:
        if args.action == "load":
            return _load(args)
        if args.action == "list" and not args.file.exists():
            # A typo in the path must not look like "no credentials".
            sys.stderr.write(f"edgewatch credentials: no credentials file {args.file} (create it with "
                             f"edgewatch credentials issue --file {args.file} ...)\n")
            return 2
        if args.action == "list" and args.digests:
            active = [c for c in read_credentials(args.file) if not c.revoked]
            line = ",".join(f"{c.role}:{c.site_id}:{c.node_id}:{c.sha256}" for c in active)
            sys.stdout.write(f"{DIGESTS_ENV}={line}\n")
            return 0
        if args.action == "list":
            for cred in read_credentials(args.file):
                row = describe(cred)
                sys.stdout.write((json.dumps(row) if args.json else "\t".join(map(str, row.values()))) + "\n")
            return 0
        if args.action == "init":
            return _init(args)
        try:  # the same rules as the edge applies to a node's Hello
            decode(Hello, {"role": args.role or "camera", "site_id": args.site, "node_id": args.node_id})
        except ProtocolError as exc:
            sys.stderr.write(f"edgewatch credentials: {exc}\n")
            return 2
        if args.action == "revoke":
            count = revoke(args.file, args.role, args.site, args.node_id)
            if not count:
                sys.stderr.write(f"edgewatch credentials: no active credential for {args.site}/{args.node_id}\n")
                return 1
            sys.stdout.write(f"revoked {count} credential(s) of {args.site}/{args.node_id}\n")
            return 0
        if args.out is not None and args.out.exists():
            sys.stderr.write(f"edgewatch credentials: {args.out} exists; not overwriting a token file\n")
            return 2
        token = issue(args.file, args.role, args.site, args.node_id, replace_existing=args.replace)
        if args.out is None:
            sys.stdout.write(token + "\n")
        else:
            _write_token(args.out, token)
            sys.stderr.write(f"issued {args.role} {args.site}/{args.node_id}; token written to {args.out}\n")
        return 0
    except (CredentialsError, OSError) as exc:
        sys.stderr.write(f"edgewatch credentials: {exc}\n")
        return 2


def _init(args: argparse.Namespace) -> int:
    from edgewatch.protocol import Hello, ProtocolError, decode
    from edgewatch.security.credentials import issue, read_credentials

    nodes = [("camera", n.strip()) for n in args.cameras.split(",") if n.strip()]
    nodes += [("alarm", n.strip()) for n in args.alarms.split(",") if n.strip()]
    if not nodes:
        sys.stderr.write("edgewatch credentials: init needs --cameras and/or --alarms\n")
        return 2
    try:
        for role, node_id in nodes:
            decode(Hello, {"role": role, "site_id": args.site, "node_id": node_id})
    except ProtocolError as exc:
        sys.stderr.write(f"edgewatch credentials: {exc}\n")
        return 2
    args.out_dir.mkdir(parents=True, exist_ok=True)
    active = {c.key for c in read_credentials(args.file) if not c.revoked}
    issued = kept = 0
    for role, node_id in nodes:
        token_file = args.out_dir / f"{node_id}.token"
        if (role, args.site, node_id) in active and token_file.is_file():
            kept += 1
            continue
        token = issue(args.file, role, args.site, node_id, replace_existing=True)
        token_file.unlink(missing_ok=True)
        _write_token(token_file, token)
        issued += 1
    sys.stdout.write(f"site {args.site}: {issued} credential(s) issued, {kept} kept; token files in {args.out_dir}\n")
    return 0


def _load(args: argparse.Namespace) -> int:
    from edgewatch.protocol import Hello, ProtocolError, decode
    from edgewatch.security.credentials import load_digests, parse_digests

    spec = os.environ.get(DIGESTS_ENV, "")
    entries = parse_digests(spec)
    if not entries:
        sys.stderr.write(f"edgewatch credentials: load needs the digests in ${DIGESTS_ENV}\n")
        return 2
    try:
        for role, site, node, _sha in entries:
            decode(Hello, {"role": role, "site_id": site, "node_id": node})
    except ProtocolError as exc:
        sys.stderr.write(f"edgewatch credentials: {DIGESTS_ENV}: {exc}\n")
        return 2
    added, revoked = load_digests(args.file, entries)
    sys.stdout.write(f"{len(entries)} active credential(s) in {args.file}: {added} added, {revoked} revoked\n")
    return 0
