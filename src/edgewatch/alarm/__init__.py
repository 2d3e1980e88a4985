"""IoT alarm node: stays connected to its site's edge and sounds on every alarm event."""
