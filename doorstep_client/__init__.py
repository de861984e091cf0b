"""The reference tablet client for sync protocol v1 (docs/sync-protocol.md, "The reference client").

Its own package: it speaks to the server only over HTTP and shares only ``doorstep_protocol``
with it, so it can be installed on its own (``pip install ./doorstep_client``… see its
``pyproject.toml``) and read as the executable specification by the Android team. Modules:
``store`` (the SQLite file), ``outbox`` (queued mutations and the local view), ``syncing`` (push
and pull), ``transport`` (HTTP), ``keys`` (the device key and ``Device-Proof``), ``receipts``
(signing at the door), ``tablet`` (``TabletClient``, the UI actions) and ``cli``.
"""

from doorstep_client.errors import ClientError, Crash, ProblemError, ServerUnavailable, TransportError
from doorstep_client.syncing import SyncReport
from doorstep_client.tablet import TabletClient
from doorstep_client.transport import FaultyTransport, FlaskTransport, HttpTransport, Reply, Transport

__all__ = [
    "ClientError",
    "Crash",
    "FaultyTransport",
    "FlaskTransport",
    "HttpTransport",
    "ProblemError",
    "Reply",
    "ServerUnavailable",
    "SyncReport",
    "TabletClient",
    "Transport",
    "TransportError",
]
