"""edgewatch report layer."""
