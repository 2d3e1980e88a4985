"""Read a folder of node JSON-line logs into the facts of :mod:`edgewatch.report.mapping`.

Streams line by line (large runs stay small in memory: only the fields the report uses are kept), skips and
counts malformed lines, counts unknown events, and tells each node's role from its name, else from the file
name, else from the events it logs.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgewatch.report import mapping

Progress = Callable[[str], None]

#: Emit a progress line every this many lines of one file.
PROGRESS_EVERY = 100_000


@dataclass(frozen=True, slots=True)
class Record:
    """One fact occurrence: ``values`` holds the fact's logical fields that were present in the line."""

    fact: str
    node: str
    t: float | None
    trace_id: str | None
    values: dict[str, Any]
    #: the log file it came from (relative path): tells apart two edges that share a node name
    origin: str = ""


@dataclass
class FileStats:
    path: str
    lines: int = 0
    used: int = 0
    malformed: int = 0
    nodes: set[str] = field(default_factory=set)


@dataclass
class LoadedLogs:
    """Every fact found, by fact name, plus what was read and what could not be used."""

    records: dict[str, list[Record]]
    files: list[FileStats]
    node_roles: dict[str, str | None]
    unknown_events: Counter[str]

    @property
    def roles_present(self) -> set[str]:
        return {role for role in self.node_roles.values() if role}

    @property
    def malformed_lines(self) -> int:
        return sum(f.malformed for f in self.files)

    def of(self, fact: str) -> list[Record]:
        return self.records.get(fact, [])


@dataclass(slots=True)
class _Raw:
    event: str
    t: float | None
    trace_id: str | None
    fields: dict[str, Any]
    origin: str


def log_files(log_dir: Path) -> list[Path]:
    """Every ``*.jsonl`` under ``log_dir`` (collected runs may keep one sub-folder per source)."""
    return sorted(p for p in Path(log_dir).rglob("*.jsonl") if p.is_file())


def _node_from_path(path: Path) -> str:
    # collect names files "<source>__<original name>.jsonl": the original name is the node's.
    return path.stem.split("__", 1)[-1]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _wanted_keys() -> dict[str, set[str]]:
    wanted: dict[str, set[str]] = {}
    for fact in mapping.FACTS.values():
        wanted.setdefault(fact.event, set()).update(fact.fields.values())
    return wanted


def _infer_role(events: Iterable[str], by_event: dict[str, list[tuple[str, mapping.Fact]]]) -> str | None:
    votes: Counter[str] = Counter()
    for event in events:
        roles = {fact.role for _, fact in by_event.get(event, [])}
        if len(roles) == 1:
            votes[roles.pop()] += 1
    return votes.most_common(1)[0][0] if votes else None


def load_logs(log_dir: Path, progress: Progress | None = None) -> LoadedLogs:
    """Read every log file under ``log_dir``; ``progress`` receives human-readable progress lines."""
    say = progress or (lambda _msg: None)
    wanted = _wanted_keys()
    by_event = mapping.facts_by_event()
    raw_by_node: dict[str, list[_Raw]] = {}
    file_hint: dict[str, str] = {}
    files: list[FileStats] = []
    unknown: Counter[str] = Counter()
    paths = log_files(log_dir)
    total_bytes = sum(p.stat().st_size for p in paths) or 1
    done_bytes = 0
    for index, path in enumerate(paths, 1):
        stats = FileStats(path=str(path.relative_to(log_dir)))
        files.append(stats)
        size = path.stat().st_size
        say(f"reading {stats.path} ({index}/{len(paths)}, {size / 1e6:.1f} MB)")
        fallback = _node_from_path(path)
        with path.open("rb") as handle:
            for raw_line in handle:
                stats.lines += 1
                if stats.lines % PROGRESS_EVERY == 0:
                    share = (done_bytes + handle.tell()) / total_bytes
                    say(f"  {stats.path}: {stats.lines:,} lines, {share:.0%} of all logs")
                if not raw_line.strip():
                    stats.lines -= 1
                    continue
                try:
                    line = json.loads(raw_line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    stats.malformed += 1
                    continue
                event = line.get(mapping.EVENT_KEY) if isinstance(line, dict) else None
                if not isinstance(event, str):
                    stats.malformed += 1
                    continue
                node = line.get(mapping.NODE_KEY)
                node = node if isinstance(node, str) and node else fallback
                file_hint.setdefault(node, fallback)
                stats.nodes.add(node)
                keys = wanted.get(event)
                if keys is None:
                    unknown[event] += 1
                    continue
                trace = line.get(mapping.TRACE_KEY)
                raw_by_node.setdefault(node, []).append(
                    _Raw(
                        event=event,
                        t=_number(line.get(mapping.TIME_KEY)),
                        trace_id=str(trace) if trace not in (None, "") else None,
                        fields={k: line[k] for k in keys if k in line and line[k] is not None},
                        origin=stats.path,
                    )
                )
                stats.used += 1
        done_bytes += size
    say(f"read {len(paths)} file(s), {sum(f.lines for f in files):,} lines")

    node_roles: dict[str, str | None] = {}
    records: dict[str, list[Record]] = {}
    all_nodes = dict.fromkeys(node for stats in files for node in sorted(stats.nodes))
    for node in all_nodes:
        raws = raw_by_node.pop(node, [])  # freed as it is converted
        role = (
            mapping.role_of(node)
            or mapping.role_of(file_hint.get(node, ""))
            or _infer_role((r.event for r in raws), by_event)
        )
        node_roles[node] = role
        for raw in raws:
            candidates = by_event[raw.event]
            match = next((c for c in candidates if c[1].role == role), None)
            if match is None:
                if len(candidates) > 1:
                    unknown[f"{raw.event} (from {role or 'unknown'} node)"] += 1
                    continue
                match = candidates[0]  # an unexpected role logs it: still use it
            name, fact = match
            values = {logical: raw.fields[key] for logical, key in fact.fields.items() if key in raw.fields}
            records.setdefault(name, []).append(Record(name, node, raw.t, raw.trace_id, values, raw.origin))
    return LoadedLogs(records=records, files=files, node_roles=node_roles, unknown_events=unknown)
