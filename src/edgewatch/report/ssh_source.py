"""Collect jobs for remote hosts over SSH: ``scp -r`` (or rsync when present) of each host's log folder.

Host lists come from a text file (``user@host`` per line) or from ``terraform output -json`` where the
output ``ssh_hosts`` is a list of ``user@host`` strings or a map layer -> ``user@host``. BatchMode keeps a
missing key from ever waiting for a password prompt; ConnectTimeout bounds an unreachable host.
"""

from __future__ import annotations

import json
import shlex
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgewatch.report.collect import Job, SourceError, run_tool, safe_label

DEFAULT_REMOTE_LOG_DIR = "/opt/edgewatch/logs"
TERRAFORM_OUTPUT = "ssh_hosts"


class HostListError(ValueError):
    """The host list file cannot be used; the message says which entry and why."""


@dataclass(frozen=True)
class Host:
    target: str  # user@host
    label: str  # layer name from Terraform, else the target


@dataclass(frozen=True)
class SshOptions:
    remote_log_dir: str = DEFAULT_REMOTE_LOG_DIR
    connect_timeout: int = 10
    timeout: float = 300.0
    identity: Path | None = None
    extra_options: tuple[str, ...] = ("StrictHostKeyChecking=accept-new",)
    transport: str = "auto"  # auto | scp | rsync

    def ssh_args(self) -> list[str]:
        args = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={self.connect_timeout}"]
        for option in self.extra_options:
            args += ["-o", option]
        if self.identity is not None:
            args += ["-i", str(self.identity)]
        return args


def _check(target: Any, where: str) -> str:
    if not isinstance(target, str) or not target.strip():
        raise HostListError(f"{where}: expected a 'user@host' string, got {target!r}")
    target = target.strip()
    if target.startswith("-") or any(c.isspace() for c in target) or ":" in target:
        raise HostListError(f"{where}: {target!r} is not a 'user@host' target")
    return target


def _from_terraform(data: Any) -> list[Host]:
    value = data
    if isinstance(value, dict) and TERRAFORM_OUTPUT in value:
        value = value[TERRAFORM_OUTPUT]
    elif (
        isinstance(value, dict)
        and value
        and all(isinstance(v, dict) and "value" in v for v in value.values())
    ):
        raise HostListError(
            f"Terraform output JSON without a usable {TERRAFORM_OUTPUT!r} output "
            f"(outputs: {', '.join(sorted(value))})"
        )
    if isinstance(value, dict) and "value" in value:  # terraform output -json wraps each output
        value = value["value"]
    if isinstance(value, list):
        return [Host(t, t) for t in (_check(v, f"{TERRAFORM_OUTPUT}[{i}]") for i, v in enumerate(value))]
    if isinstance(value, dict) and value:
        return [Host(_check(v, f"{TERRAFORM_OUTPUT}[{k!r}]"), str(k)) for k, v in value.items()]
    raise HostListError(f"Terraform output JSON without a usable {TERRAFORM_OUTPUT!r} list or map")


def parse_hosts(text: str) -> list[Host]:
    """Hosts from a ``user@host`` per line file (``#`` comments) or Terraform output JSON."""
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise HostListError(f"invalid JSON: {exc}") from None
        hosts = _from_terraform(data)
    else:
        hosts = []
        for number, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if line:
                target = _check(line, f"line {number}")
                hosts.append(Host(target, target))
    if not hosts:
        raise HostListError("no hosts listed")
    return list(dict.fromkeys(hosts))


def load_hosts(path: Path) -> list[Host]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HostListError(f"cannot read {path}: {exc.strerror}") from None
    return parse_hosts(text)


def _transport(options: SshOptions) -> str:
    if options.transport == "rsync" or (options.transport == "auto" and shutil.which("rsync")):
        if shutil.which("ssh") is None:
            raise SourceError("ssh not found on PATH: install openssh-client")
        if shutil.which("rsync") is None:
            raise SourceError("rsync not found on PATH")
        return "rsync"
    if shutil.which("scp") is None:
        raise SourceError("scp not found on PATH: install openssh-client")
    return "scp"


def _explain(exc: SourceError, host: Host) -> SourceError:
    text = str(exc)
    lowered = text.lower()
    if any(
        s in lowered
        for s in (
            "timed out",
            "no route",
            "could not resolve",
            "connection refused",
            "network is unreachable",
            "name or service not known",
        )
    ):
        return SourceError(f"host unreachable: {text}")
    if "permission denied" in lowered or "host key verification failed" in lowered:
        return SourceError(f"SSH login refused (check the key and user): {text}")
    if "no such file" in lowered:
        return SourceError(f"no log folder on {host.target}: {text}")
    return exc


def host_job(host: Host, options: SshOptions) -> Job:
    remote = options.remote_log_dir.rstrip("/")

    def fetch(staging: Path) -> Path:
        tool = _transport(options)
        what = f"{tool} from {host.target}"
        # a destination that does not exist yet receives the folder's contents (cp -r semantics)
        dest = staging / "logs"
        if tool == "rsync":
            shell = shlex.join(["ssh", *options.ssh_args()])
            argv = [
                "rsync",
                "-a",
                "--include=*/",
                "--include=*.jsonl",
                "--exclude=*",
                "-e",
                shell,
                f"{host.target}:{remote}/",
                f"{dest}/",
            ]
        else:
            argv = ["scp", "-r", "-q", *options.ssh_args(), f"{host.target}:{remote}", str(dest)]
        try:
            run_tool(argv, options.timeout, what)
        except SourceError as exc:
            raise _explain(exc, host) from None
        return dest

    label = safe_label(host.label)
    return Job("ssh", host.target, f"ssh-{label}", fetch)


def ssh_jobs(hosts: Sequence[Host], options: SshOptions) -> list[Job]:
    return [host_job(host, options) for host in hosts]
