"""Edge node: receives frames from many cameras, detects persons off the event loop, raises alarms."""
