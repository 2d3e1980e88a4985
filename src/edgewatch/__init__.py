"""edgewatch: distributed intruder detection (IoT -> edge -> cloud)."""
__version__ = "0.1.0"
