"""Collect jobs for Docker: the log folder of each container of a compose project, or named containers."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from edgewatch.report.collect import Job, SourceError, SourceResult, run_tool, safe_label

DEFAULT_LOG_DIR = "/app/logs"
PROJECT_LABEL = "com.docker.compose.project"


def _docker() -> str:
    docker = shutil.which("docker")
    if docker is None:
        raise SourceError(
            "docker not found on PATH: install the Docker CLI, or copy the logs out and use --from-dir"
        )
    return docker


def project_containers(project: str, timeout: float) -> list[str]:
    """Names of every container (running or stopped) of compose project ``project``."""
    result = run_tool(
        [_docker(), "ps", "-a", "--filter", f"label={PROJECT_LABEL}={project}", "--format", "{{.Names}}"],
        timeout,
        f"docker ps for compose project {project}",
    )
    names = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if not names:
        raise SourceError(f"no containers found for compose project {project!r}")
    return names


def container_job(container: str, log_dir: str, timeout: float) -> Job:
    """``docker cp CONTAINER:LOG_DIR/.`` (works on stopped containers too)."""

    def fetch(staging: Path) -> None:
        run_tool(
            [_docker(), "cp", f"{container}:{log_dir.rstrip('/')}/.", str(staging)],
            timeout,
            f"docker cp from {container}",
        )

    return Job("docker", container, "docker-" + safe_label(container), fetch)


def docker_jobs(
    projects: Sequence[str], containers: Sequence[str], log_dir: str, timeout: float
) -> tuple[list[Job], list[SourceResult]]:
    """Jobs for the named containers and every container of the projects; failures listing projects."""
    jobs: list[Job] = []
    failures: list[SourceResult] = []
    names: list[str] = []
    for project in projects:
        try:
            names += project_containers(project, timeout)
        except SourceError as exc:
            failures.append(SourceResult("docker", f"project {project}", error=str(exc)))
    names += list(containers)
    for name in dict.fromkeys(names):
        if not name or name.startswith("-"):
            failures.append(SourceResult("docker", name, error="not a container name"))
            continue
        jobs.append(container_job(name, log_dir, timeout))
    return jobs, failures
