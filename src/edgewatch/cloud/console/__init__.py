"""The cloud's console at ``/console``: known persons with their photos, enrolment with a per-photo
"usable face" answer, removal, and "try an image". See :mod:`edgewatch.cloud.console.app`."""

from edgewatch.cloud.console.app import CloudConsole, with_console

__all__ = ["CloudConsole", "with_console"]
