"""Photos, signatures and supplementary materials: declared, uploaded, verified, content-addressed.

Other packages use only this surface: ``is_stored(sha256)`` (``stored_among`` for many) when a
record names an attachment, and ``on_stored(hook)`` to learn, in the storing transaction, that one has arrived."""

from app.attachments.services import is_stored, on_stored, share_with_station, stored_among

__all__ = ["is_stored", "on_stored", "share_with_station", "stored_among"]
