"""Gather the node logs of a run into one folder, ready for `edgewatch report`.

Sources (any mix, each repeatable): local folders (--from-dir), Docker containers by compose project
(--docker-project) or by name (--docker-container), and remote hosts over SSH (--ssh-hosts: a file with one
user@host per line, or `terraform output -json` whose `ssh_hosts` output is a list or a layer -> user@host
map). Files are named <source>__<file>.jsonl so sources never overwrite each other. A failing source (Docker
or SSH missing, host unreachable, no logs) is reported and the others are still collected; the exit status
is non-zero only when nothing at all was collected. A manifest is written to OUT/collect.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="folder to gather the logs into"
    )
    parser.add_argument(
        "--from-dir",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="copy every *.jsonl under this local folder (repeatable)",
    )
    docker = parser.add_argument_group("Docker")
    docker.add_argument(
        "--docker-project",
        action="append",
        default=[],
        metavar="NAME",
        help="every container (running or stopped) of this compose project (repeatable)",
    )
    docker.add_argument(
        "--docker-container", action="append", default=[], metavar="NAME", help="this container (repeatable)"
    )
    docker.add_argument(
        "--docker-log-dir",
        default="/app/logs",
        metavar="PATH",
        help="log folder inside the containers (default: /app/logs)",
    )
    ssh = parser.add_argument_group("SSH")
    ssh.add_argument(
        "--ssh-hosts",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="user@host per line, or Terraform output JSON with an 'ssh_hosts' output (repeatable)",
    )
    ssh.add_argument(
        "--remote-log-dir",
        default="/opt/edgewatch/logs",
        metavar="PATH",
        help="log folder on the hosts (default: /opt/edgewatch/logs)",
    )
    ssh.add_argument(
        "--ssh-identity", type=Path, default=None, metavar="KEY", help="private key file (ssh -i)"
    )
    ssh.add_argument(
        "--ssh-option",
        action="append",
        default=None,
        metavar="OPTION",
        help="extra ssh -o option (repeatable; default: StrictHostKeyChecking=accept-new)",
    )
    ssh.add_argument(
        "--connect-timeout", type=int, default=10, metavar="SECONDS", help="SSH connect timeout (default: 10)"
    )
    ssh.add_argument(
        "--transport",
        choices=("auto", "scp", "rsync"),
        default="auto",
        help="copy with scp or rsync (default: rsync when installed, else scp)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="limit for each docker/scp/rsync command (default: 300)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def main(args: argparse.Namespace) -> int:
    from edgewatch.report.collect import SourceResult, collect, format_report, local_dir_job
    from edgewatch.report.docker_source import docker_jobs
    from edgewatch.report.ssh_source import HostListError, SshOptions, load_hosts, ssh_jobs

    if not (args.from_dir or args.docker_project or args.docker_container or args.ssh_hosts):
        sys.stderr.write(
            "edgewatch collect: give at least one source: --from-dir, --docker-project, "
            "--docker-container or --ssh-hosts\n"
        )
        return 2
    if args.timeout <= 0 or args.connect_timeout <= 0:
        sys.stderr.write("edgewatch collect: --timeout and --connect-timeout must be positive\n")
        return 2

    def progress(message: str) -> None:
        if not args.quiet:
            sys.stderr.write(f"edgewatch collect: {message}\n")

    jobs = [local_dir_job(d) for d in args.from_dir]
    failures: list[SourceResult] = []
    if args.docker_project or args.docker_container:
        docker, docker_failures = docker_jobs(
            args.docker_project, args.docker_container, args.docker_log_dir, args.timeout
        )
        jobs += docker
        failures += docker_failures
    options = SshOptions(
        remote_log_dir=args.remote_log_dir,
        connect_timeout=args.connect_timeout,
        timeout=args.timeout,
        identity=args.ssh_identity,
        transport=args.transport,
        **({"extra_options": tuple(args.ssh_option)} if args.ssh_option is not None else {}),
    )
    for hosts_file in args.ssh_hosts:
        try:
            jobs += ssh_jobs(load_hosts(hosts_file), options)
        except HostListError as exc:
            failures.append(SourceResult("ssh", f"hosts {hosts_file}", error=f"bad host list: {exc}"))
    report = collect(jobs, args.out, failures, progress)
    (args.out / "collect.json").write_text(report.to_json(), encoding="utf-8")
    sys.stdout.write(format_report(report) + "\n")
    return 0 if report.files else 1
