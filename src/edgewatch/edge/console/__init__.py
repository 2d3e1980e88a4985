"""The site console the edge serves at ``/console``: live camera tiles, tracks in view, alarms from the
outbox with their handling, and "Send an image". See :class:`~edgewatch.edge.console.app.EdgeConsole`."""

from edgewatch.edge.console.app import EdgeConsole

__all__ = ["EdgeConsole"]
