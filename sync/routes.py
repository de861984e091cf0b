"""POST /sync/pull and /sync/push for tablets; conflicts and rejections for staff."""

from __future__ import annotations

import gzip
import uuid
import zlib
from collections.abc import Sequence
from datetime import timedelta

import orjson
from flask import Response, current_app, request
from flask_smorest.pagination import PaginationParameters
from marshmallow import ValidationError

from app import fastload, jsonlimits, metrics, unit_of_work
from app.auth.actor import Actor
from app.auth.models import Device
from app.auth.permissions import current_actor, requires
from app.db import utcnow
from app.errors import DomainError, Forbidden, field_error
from app.extensions import db
from app.schemas import Blueprint, paginate
from doorstep_protocol.limits import MAX_MUTATIONS_PER_PUSH, SUPPORTED_PROTOCOLS
from sync import feed, registry, resolution
from sync import push as pushing
from sync.handling import JsonObject, refusal
from sync.models import SyncConflict, SyncMutation
from sync.schemas import (
    ConflictOut,
    ListArgs,
    PullIn,
    PushIn,
    RejectionOut,
    RejectionPiiOut,
    ResolveConflictIn,
    ResolveRejectionIn,
)

PULL_STAMP_EVERY = timedelta(seconds=30)

blp = Blueprint("sync", __name__, url_prefix="/api/v1/sync", description="Offline sync for field tablets")
for _endpoint in ("sync.pull", "sync.push"):  # they read (and inflate) their own bodies
    jsonlimits.self_checked(_endpoint)


class UnsupportedProtocol(DomainError):
    status, slug, title = 400, "unsupported-protocol", "This protocol version is not served"


class TooManyMutations(DomainError):
    status, slug, title = 413, "too-many-mutations", "Too many mutations in one push"


class PayloadTooLarge(DomainError):
    status, slug, title = 413, "payload-too-large", "The body is too large"


def _body(schema: type) -> JsonObject:
    """Read (and un-gzip) the body, refuse other protocols first, then validate the envelope."""
    limit = current_app.config["SYNC_MAX_BODY"]
    raw = request.get_data(cache=True)  # kept: a unit of work retried reads it again
    compressed = request.headers.get("Content-Encoding", "").lower() == "gzip"
    if compressed:
        try:
            raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, limit + 1)
        except zlib.error:
            raise field_error("body", "is not valid gzip", cls=DomainError) from None
    if len(raw) > limit:
        raise PayloadTooLarge(f"the body is over {limit} bytes")
    try:
        body = jsonlimits.loads(raw)
    except orjson.JSONDecodeError:
        raise DomainError("the body is not JSON", errors={"body": ["not JSON"]}) from None
    if not isinstance(body, dict):
        raise DomainError("the body must be a JSON object", errors={"body": ["not an object"]})
    if "protocol" not in body:
        raise field_error("protocol", "missing: the protocol version this client speaks")
    if type(body["protocol"]) is not int or body["protocol"] not in SUPPORTED_PROTOCOLS:
        raise UnsupportedProtocol(
            f"protocol {body.get('protocol')!r} is not served", supported=list(SUPPORTED_PROTOCOLS)
        )
    if isinstance(body.get("mutations"), list) and len(body["mutations"]) > MAX_MUTATIONS_PER_PUSH:
        raise TooManyMutations(f"at most {MAX_MUTATIONS_PER_PUSH} mutations per push; send the rest next")
    try:
        return fastload.loader(schema)(body)
    except ValidationError as exc:
        raise refusal(exc) from None


def _device(actor: Actor) -> Device:
    device = db.session.get(Device, actor.device_id) if actor.device_id is not None else None
    if device is None:  # a device-bound token names a device that exists (permissions checked it)
        raise Forbidden("sync needs a device-bound token: sign in on the tablet", slug="device-required")
    return device


def _respond(body: bytes) -> Response:
    response = current_app.response_class(body, mimetype="application/json")
    if "gzip" in request.headers.get("Accept-Encoding", "").lower() and len(body) > 512:
        response.set_data(gzip.compress(body, compresslevel=5))
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
    return response


@blp.route("/pull", methods=["POST"])
@requires("sync.use", allow_retired_device=True)
@blp.doc(requestBody={"content": {"application/json": {"schema": PullIn}}})
def pull() -> Response:
    """Changes in this device's scope after the cursor (see docs/sync-protocol.md)"""
    body = _body(PullIn)
    actor = current_actor()
    device = _device(actor)
    page = feed.pull(device, feed.scope_of(actor), body["cursor"], body["limit"])
    for entity, record_ids in page.served.items():
        registry.SERVED[entity](record_ids, device.id)
    now = utcnow()
    if device.last_pull_at is None or now - device.last_pull_at > PULL_STAMP_EVERY:
        device.last_pull_at = now  # a first pull of 100 pages need not write 100 times
    unit_of_work.on_commit(metrics.sync_page_served)  # served once the request's unit has committed
    return _respond(page.body)


@blp.route("/push", methods=["POST"])
@requires("sync.use", allow_retired_device=True)
@blp.doc(requestBody={"content": {"application/json": {"schema": PushIn}}})
def push() -> Response:
    """Apply this device's mutations, each once, in seq order (see docs/sync-protocol.md)"""
    body = _body(PushIn)
    actor = current_actor()
    device = _device(actor)
    return _respond(orjson.dumps(pushing.push(actor, device.id, body["mutations"], body["sent_at"])))


@blp.route("/conflicts", methods=["GET"])
@requires("sync.resolve")
@blp.arguments(ListArgs, location="query")
@blp.response(200, ConflictOut(many=True))
@blp.paginate()
def list_conflicts(args: JsonObject, pagination_parameters: PaginationParameters) -> Sequence[SyncConflict]:
    """Conflicts of your station's devices: fields both sides changed, facts recorded late"""
    return paginate(resolution.conflicts_visible_to(current_actor(), args), pagination_parameters)


@blp.route("/conflicts/<uuid:conflict_id>/resolve", methods=["POST"])
@requires("sync.resolve")
@blp.arguments(ResolveConflictIn)
@blp.response(200, ConflictOut)
def resolve_conflict(body: JsonObject, conflict_id: uuid.UUID) -> SyncConflict:
    """Keep the server's value or apply the device's, for all fields or field by field; or
    acknowledge a late fact"""
    return resolution.resolve_conflict(current_actor(), conflict_id, body["choice"], body["note"], body["fields"])


@blp.route("/rejections", methods=["GET"])
@requires("sync.resolve")
@blp.arguments(ListArgs, location="query")
@blp.response(200, RejectionOut(many=True))
@blp.paginate()
def list_rejections(args: JsonObject, pagination_parameters: PaginationParameters) -> Sequence[SyncMutation]:
    """Mutations your station's devices pushed that were refused, with their payload and reasons"""
    return paginate(resolution.rejections_visible_to(current_actor(), args), pagination_parameters)


@blp.route("/rejections/<uuid:mutation_id>/pii", methods=["GET"])
@requires("resident.read_pii", writes=True)
@blp.response(200, RejectionPiiOut)
def rejection_pii(mutation_id: uuid.UUID) -> JsonObject:
    """A rejected payload's identity and phone numbers in plain (audited)"""
    return resolution.read_rejection_pii(current_actor(), mutation_id)


@blp.route("/rejections/<uuid:mutation_id>/resolve", methods=["POST"])
@requires("sync.resolve")
@blp.arguments(ResolveRejectionIn)
@blp.response(200, RejectionOut)
def resolve_rejection(body: JsonObject, mutation_id: uuid.UUID) -> SyncMutation:
    """Close a rejection: dismissed, or applied by hand"""
    return resolution.resolve_rejection(current_actor(), mutation_id, body["resolution"], body["note"])
