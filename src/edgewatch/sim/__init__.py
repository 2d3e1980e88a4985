"""edgewatch sim layer."""
