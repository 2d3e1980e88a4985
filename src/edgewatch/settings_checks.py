"""Start-up checks of settings values that name paths and URLs, shared by every node's settings.

Each check raises ``ValueError`` with a sentence a user can act on; pydantic turns it into a
:class:`~edgewatch.config.SettingsError` naming the field and where its value came from. They run before
anything starts, so a typo fails at once with one line instead of a traceback, an endless retry loop, or
a service that answers 503 later.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

HTTP_SCHEMES = ("http", "https")


def check_url(value: str | None, schemes: tuple[str, ...] = HTTP_SCHEMES) -> str | None:
    """``value`` unchanged if it is an absolute URL with one of ``schemes`` and a host (None passes)."""
    if value is None:
        return None
    try:
        parts = urlsplit(value.strip())
        host, port = parts.hostname, parts.port  # .port raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"not a usable URL ({exc}): {value!r}") from None
    if parts.scheme.lower() not in schemes or not host:
        wanted = " or ".join(f"{s}://" for s in schemes)
        raise ValueError(f"must be a URL starting with {wanted} and naming a host, got {value!r}")
    del port
    return value.strip()


def _first_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def check_dir_path(value: Path | None) -> Path | None:
    """A folder that exists or can be created: not an existing file, not below one."""
    if value is None:
        return None
    path = value.expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"{str(path)!r} is a file; a folder is needed")
    existing = _first_existing(path)
    if not existing.is_dir():
        raise ValueError(f"{str(path)!r} cannot be a folder: {str(existing)!r} is a file")
    return value


def check_file_path(value: Path | None) -> Path | None:
    """A file path that exists as a file or can be created: not a folder, not below a file."""
    if value is None:
        return None
    path = value.expanduser()
    if str(path) == ":memory:":
        return value
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder; a file name is needed (e.g. {str(path / 'x.db')!r})")
    existing = _first_existing(path.parent)
    if not existing.is_dir():
        raise ValueError(f"{str(path)!r} cannot be created: {str(existing)!r} is a file")
    return value


def check_url_list(value: str | None, schemes: tuple[str, ...] = HTTP_SCHEMES) -> str | None:
    """``value`` unchanged if it is one URL or several separated by commas, each passing :func:`check_url`."""
    if value is None:
        return None
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if not parts:
        raise ValueError(f"no URL given in {value!r}")
    for part in parts:
        check_url(part, schemes)
    return value
