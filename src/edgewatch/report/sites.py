"""Tell cameras apart across sites: ``cam1`` at site 1 and ``cam1`` at site 2 are two cameras.

Camera ids are unique only within a site, and the compose topology reuses them (two sites, two edges, each
with ``cam1`` and ``cam2``). When the logs show more than one site, every record's camera becomes
``<site>/<camera>``. The site comes from the record itself when its event carries ``site_id``, else from
its trace id (the edge logs the site of every frame it receives, and the camera's ``frame_sent`` shares the
trace id), else from other records of the same log file and camera.
"""

from __future__ import annotations

from edgewatch.report.loader import LoadedLogs, Record


def _all(logs: LoadedLogs) -> list[Record]:
    return [record for records in logs.records.values() for record in records]


def qualify_cameras(logs: LoadedLogs) -> set[str]:
    """Rewrite ``values["camera"]`` in place to ``site/camera`` when more than one site appears; returns the
    sites seen. Records whose site cannot be found keep the bare camera id."""
    records = _all(logs)
    site_of_trace: dict[str, str] = {}
    for record in records:
        site = record.values.get("site")
        if isinstance(site, str) and site and record.trace_id:
            site_of_trace.setdefault(record.trace_id, site)
    sites = {s for r in records if isinstance(s := r.values.get("site"), str) and s}
    if len(sites) < 2:
        return sites

    def own_site(record: Record) -> str | None:
        site = record.values.get("site")
        if isinstance(site, str) and site:
            return site
        return site_of_trace.get(record.trace_id) if record.trace_id else None

    site_of_file_camera: dict[tuple[str, str], str] = {}
    for record in records:
        camera, site = record.values.get("camera"), own_site(record)
        if camera is not None and site:
            site_of_file_camera.setdefault((record.origin, str(camera)), site)
    for record in records:
        camera = record.values.get("camera")
        if camera is None:
            continue
        site = own_site(record) or site_of_file_camera.get((record.origin, str(camera)))
        if site:
            record.values["camera"] = f"{site}/{camera}"
    return sites
