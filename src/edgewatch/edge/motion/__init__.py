"""Motion gating: run the person detector only where something moved (see :mod:`.gate`)."""

from edgewatch.edge.motion.gate import DetectReason, GateOptions, MotionGate

__all__ = ["DetectReason", "GateOptions", "MotionGate"]
