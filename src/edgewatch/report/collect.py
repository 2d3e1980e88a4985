"""Gather a run's node logs into one folder, from local folders, Docker containers and SSH hosts.

Each source fetches into its own staging folder; its ``*.jsonl`` files are then placed in the output folder
as ``<source label>__<file name>`` so files from different sources never overwrite each other. A source
that fails is recorded with the reason and the others go on: partial results are kept.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: Remote fetches run side by side (they wait on the network, not the CPU).
PARALLEL_FETCHES = 4


class SourceError(Exception):
    """One source could not be collected; the message says why in the user's terms."""


@dataclass
class SourceResult:
    kind: str  # dir | docker | ssh
    name: str  # the folder, container or host as the user named it
    label: str = ""  # prefix of the placed files
    files: list[str] = field(default_factory=list)
    bytes: int = 0
    error: str | None = None
    #: set when the source was reached but held no logs (a one-shot container that logged nothing): not a failure
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.files)

    @property
    def status(self) -> str:
        """``ok``, ``part`` (some files, then an error), ``none`` (reached, nothing logged) or ``FAIL``."""
        if self.error is None:
            return "ok" if self.files else "none"
        return "part" if self.files else "FAIL"


@dataclass
class CollectReport:
    out_dir: Path
    sources: list[SourceResult]

    @property
    def files(self) -> int:
        return sum(len(s.files) for s in self.sources)

    def to_json(self) -> str:
        return (
            json.dumps(
                {
                    "out_dir": str(self.out_dir),
                    "files": self.files,
                    "sources": [asdict(s) for s in self.sources],
                },
                indent=2,
            )
            + "\n"
        )


@dataclass(frozen=True)
class Job:
    """One source to fetch: ``fetch(staging_dir)`` fills the folder or raises :class:`SourceError`.

    It may return the sub-folder that holds the logs (file names are taken relative to it).
    """

    kind: str
    name: str
    label: str
    fetch: Callable[[Path], Path | None]


def safe_label(text: str) -> str:
    """A file-name-safe source label (``ubuntu@10.0.0.5`` -> ``ubuntu_10.0.0.5``)."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("._") or "source"


def run_tool(argv: Sequence[str], timeout: float, what: str) -> subprocess.CompletedProcess[str]:
    """Run an external tool; failures become :class:`SourceError` naming ``what`` and the tool's own words."""
    try:
        result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise SourceError(f"{argv[0]} not found on PATH") from None
    except subprocess.TimeoutExpired:
        raise SourceError(f"{what}: timed out after {timeout:g} s") from None
    if result.returncode != 0:
        words = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        detail = words[-1] if words else f"exit status {result.returncode}"
        raise SourceError(f"{what}: {detail}")
    return result


def local_dir_job(directory: Path) -> Job:
    """Copy every ``*.jsonl`` under ``directory``."""

    def fetch(staging: Path) -> None:
        if not directory.is_dir():
            raise SourceError(f"{directory} is not a directory")
        for path in directory.rglob("*.jsonl"):
            if path.is_file():
                target = staging / path.relative_to(directory)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)

    return Job("dir", str(directory), "dir-" + safe_label(directory.resolve().name), fetch)


def _place(staging: Path, out_dir: Path, result: SourceResult) -> None:
    for path in sorted(staging.rglob("*.jsonl")):
        if not path.is_file():
            continue
        flat = "_".join(path.relative_to(staging).parts)
        target = out_dir / f"{result.label}__{flat}"
        counter = 2
        while target.name in result.files:  # two sub-folder paths flattened to one name: keep both
            target = out_dir / f"{result.label}__{Path(flat).stem}-{counter}.jsonl"
            counter += 1
        # a file left by an earlier collect of the same source is replaced, never counted twice
        target.unlink(missing_ok=True)
        shutil.move(path, target)
        result.files.append(target.name)
        result.bytes += target.stat().st_size


def _unique_labels(jobs: list[Job]) -> list[Job]:
    seen: dict[str, int] = {}
    unique = []
    for job in jobs:
        seen[job.label] = seen.get(job.label, 0) + 1
        label = job.label if seen[job.label] == 1 else f"{job.label}-{seen[job.label]}"
        unique.append(Job(job.kind, job.name, label, job.fetch))
    return unique


def collect(
    jobs: list[Job],
    out_dir: Path,
    failures: Sequence[SourceResult] = (),
    progress: Callable[[str], None] | None = None,
) -> CollectReport:
    """Run every job (remote ones side by side) and place their logs in ``out_dir``.

    ``failures`` are sources that failed before any job could be made (e.g. docker missing); they are
    reported with the rest.
    """
    say = progress or (lambda _msg: None)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = _unique_labels(jobs)
    with tempfile.TemporaryDirectory(prefix="edgewatch-collect-") as tmp:

        def run(index_job: tuple[int, Job]) -> SourceResult:
            index, job = index_job
            result = SourceResult(job.kind, job.name, job.label)
            staging = Path(tmp) / str(index)
            staging.mkdir()
            say(f"collecting {job.kind} {job.name}")
            root = staging
            try:
                root = job.fetch(staging) or staging
            except SourceError as exc:
                result.error = str(exc)
            # keep whatever arrived even when the fetch failed half-way
            _place(root, out_dir, result)
            if result.error is None and not result.files:
                # reached, but nothing logged there: e.g. the one-shot enrolment container; not a failure
                result.note = "no *.jsonl log files (nothing logged there)"
            say(f"{job.kind} {job.name}: " + (result.error or result.note or f"{len(result.files)} file(s)"))
            return result

        with ThreadPoolExecutor(max_workers=PARALLEL_FETCHES) as pool:
            results = list(pool.map(run, enumerate(jobs)))
    return CollectReport(out_dir=out_dir, sources=[*failures, *results])


def format_report(report: CollectReport) -> str:
    """The final summary: what was collected from where, what failed and why."""
    lines = [f"collected into {report.out_dir}:"]
    for source in report.sources:
        status = f"{source.status:<4}"
        detail = f"{len(source.files)} file(s), {source.bytes / 1000:.1f} kB"
        if source.note:
            detail = source.note
        if source.files:
            detail += " (" + ", ".join(source.files[:4]) + (", ..." if len(source.files) > 4 else "") + ")"
        if source.error:
            detail = (detail + "; " if source.files else "") + source.error
        lines.append(f"  {status} {source.kind:<6} {source.name}: {detail}")
    ok = sum(1 for s in report.sources if s.files)
    failed = sum(1 for s in report.sources if s.error)
    empty = sum(1 for s in report.sources if s.status == "none")
    lines.append(
        f"total: {report.files} file(s) from {ok} of {len(report.sources)} source(s); {failed} failed"
        + (f", {empty} with no logs" if empty else "")
    )
    return "\n".join(lines)
