"""Face-recognition backends behind one interface (:class:`~edgewatch.cloud.backends.base.Backend`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgewatch.cloud.backends.base import Backend
    from edgewatch.config import CloudSettings


def make_backend(settings: CloudSettings) -> Backend:
    """The backend chosen by ``settings.backend`` (imports only what that backend needs)."""
    if settings.backend == "rekognition":
        from edgewatch.cloud.backends.rekognition import RekognitionBackend

        return RekognitionBackend.from_settings(settings)
    from edgewatch.cloud.backends.local import LocalBackend

    return LocalBackend.from_settings(settings)
