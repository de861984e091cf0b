"""The blob store: photos, signatures and supplementary materials, addressed by their SHA-256.

Two implementations behind one small interface, chosen by configuration:

- ``LocalStore`` (default): a folder (``DOORSTEP_BLOB_DIR``). Clients upload through the API
  itself, so the "presigned" upload it hands out is the API's own authenticated ``PUT``.
- ``S3Store`` (``DOORSTEP_S3_BUCKET`` set): tablets upload straight to S3 with a short-lived
  presigned ``PUT`` that binds the content type, the length and the SHA-256, so the bytes never
  pass through the API nodes. Path-style addressing makes S3-compatible servers (MinIO, Ceph)
  work behind a plain endpoint URL.

The store knows nothing about who may see what; the attachments package decides that and
records which hashes are declared and verified. The store only keeps bytes.
"""

from __future__ import annotations

import base64
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from flask import current_app

from app.db import utcnow
from app.errors import DomainError

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
# Where the attachments API serves and accepts a local store's bytes. The store hands this path
# out as the upload target because a folder on the API host has no URL of its own.
API_CONTENT_PATH = "/api/v1/attachments/{sha256}/content"


class BlobMissing(LookupError):
    """No object under that hash."""


class BlobStoreUnavailable(DomainError):
    """The store could not be reached or refused us; the client may retry later."""

    status, slug, title = 503, "blob-store-unavailable", "The file store is unavailable"


def check_sha256(sha256: object) -> str:
    """Hashes become file names and object keys: anything but 64 lowercase hex is refused here
    too, whatever the caller validated, so no path can escape the store."""
    if not isinstance(sha256, str) or not SHA256_RE.match(sha256):
        raise ValueError("a blob is named by 64 lowercase hex digits")
    return sha256


def sha256_b64(sha256: str) -> str:
    """S3 wants the digest itself, base64-encoded, not its hex spelling."""
    return base64.b64encode(bytes.fromhex(check_sha256(sha256))).decode()


@dataclass(frozen=True)
class BlobHead:
    size: int
    content_type: str


class BlobStore(Protocol):
    def put(self, sha256: str, data: bytes, content_type: str) -> None: ...
    def get(self, sha256: str, max_bytes: int | None = None) -> bytes: ...
    def head(self, sha256: str) -> BlobHead | None: ...
    def delete(self, sha256: str) -> None: ...
    def presign_put(self, sha256: str, content_type: str, size: int) -> dict[str, Any]: ...
    def presign_get(self, sha256: str) -> dict[str, Any] | None: ...


class LocalStore:
    """Files under ``root/ab/cd/<sha256>`` (two levels of hash prefix keep directories small),
    the content type beside each in ``<sha256>.type``. Every file is written to a temporary name
    in the same directory and renamed into place, so a reader never sees half a file and a
    crash leaves only a stray temporary file."""

    kind = "local"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, sha256: str) -> Path:
        check_sha256(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    @staticmethod
    def _write_atomically(target: Path, data: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put(self, sha256: str, data: bytes, content_type: str) -> None:
        path = self._path(sha256)
        # The type first: once the blob is visible, its type is too.
        self._write_atomically(path.with_name(sha256 + ".type"), content_type.encode())
        self._write_atomically(path, data)

    def get(self, sha256: str, max_bytes: int | None = None) -> bytes:
        try:
            with self._path(sha256).open("rb") as f:
                return f.read() if max_bytes is None else f.read(max_bytes + 1)
        except FileNotFoundError:
            raise BlobMissing(sha256) from None

    def head(self, sha256: str) -> BlobHead | None:
        path = self._path(sha256)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        try:
            content_type = path.with_name(sha256 + ".type").read_text().strip()
        except FileNotFoundError:
            content_type = "application/octet-stream"
        return BlobHead(size, content_type)

    def delete(self, sha256: str) -> None:
        path = self._path(sha256)
        path.unlink(missing_ok=True)
        path.with_name(sha256 + ".type").unlink(missing_ok=True)

    def presign_put(self, sha256: str, content_type: str, size: int) -> dict[str, Any]:
        """The API's own upload endpoint: it needs the caller's bearer token, so it does not expire."""
        return {
            "method": "PUT",
            "url": API_CONTENT_PATH.format(sha256=check_sha256(sha256)),
            "headers": {"Content-Type": content_type},
            "expires_at": None,
        }

    def presign_get(self, sha256: str) -> dict[str, Any] | None:
        return None


class S3Store:
    """An S3 bucket (or an S3-compatible server at ``endpoint_url``), objects under ``blobs/<sha256>``.

    boto3 finds credentials the standard way (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a
    profile, or an instance role); nothing secret lives in Doorstep's own settings.
    """

    kind = "s3"
    PREFIX = "blobs/"

    def __init__(self, bucket: str, *, endpoint_url: str | None, region: str, presign_seconds: int) -> None:
        # boto3 (about half a second to import) loads only in deployments that store blobs on S3.
        import boto3
        from botocore.config import Config as BotoConfig

        self.bucket = bucket
        self.presign_seconds = presign_seconds
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region,
            config=BotoConfig(
                s3={"addressing_style": "path"},
                signature_version="s3v4",
                # We check SHA-256 ourselves on every arrival; the CRC trailers botocore adds by
                # default since 1.36 are refused by several S3-compatible servers.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
            ),
        )

    def _key(self, sha256: str) -> str:
        return self.PREFIX + check_sha256(sha256)

    def _call(self, method: str, **params: Any) -> Any:
        """Run one S3 operation; a transport failure or refusal becomes a 503 the client can retry."""
        from botocore.exceptions import BotoCoreError, ClientError  # loaded with boto3, S3 deployments only

        try:
            return getattr(self.client, method)(Bucket=self.bucket, **params)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise BlobMissing(params.get("Key")) from None
            raise BlobStoreUnavailable(f"the file store refused {method}") from exc
        except BotoCoreError as exc:
            raise BlobStoreUnavailable(f"the file store could not be reached ({type(exc).__name__})") from exc

    def put(self, sha256: str, data: bytes, content_type: str) -> None:
        self._call(
            "put_object", Key=self._key(sha256), Body=data, ContentType=content_type, ChecksumSHA256=sha256_b64(sha256)
        )

    def get(self, sha256: str, max_bytes: int | None = None) -> bytes:
        body = self._call("get_object", Key=self._key(sha256))["Body"]
        try:
            data: bytes = body.read() if max_bytes is None else body.read(max_bytes + 1)
            return data
        finally:
            body.close()

    def head(self, sha256: str) -> BlobHead | None:
        try:
            meta = self._call("head_object", Key=self._key(sha256))
        except BlobMissing:
            return None
        return BlobHead(int(meta["ContentLength"]), meta.get("ContentType") or "application/octet-stream")

    def delete(self, sha256: str) -> None:
        self._call("delete_object", Key=self._key(sha256))

    def _expires_at(self) -> datetime:
        return utcnow() + timedelta(seconds=self.presign_seconds)

    def _presign(self, method: str, params: dict[str, Any]) -> str:
        from botocore.exceptions import BotoCoreError  # loaded with boto3, S3 deployments only

        try:
            url: str = self.client.generate_presigned_url(
                method, Params={"Bucket": self.bucket, **params}, ExpiresIn=self.presign_seconds
            )
            return url
        except BotoCoreError as exc:  # e.g. no credentials configured
            raise BlobStoreUnavailable(f"cannot sign a file store URL ({type(exc).__name__})") from exc

    def presign_put(self, sha256: str, content_type: str, size: int) -> dict[str, Any]:
        """A PUT that S3 accepts only with this type, this length and bytes of this SHA-256:
        all three are signed headers, and S3 recomputes the checksum of what arrives."""
        checksum = sha256_b64(sha256)
        url = self._presign(
            "put_object",
            {"Key": self._key(sha256), "ContentType": content_type, "ContentLength": size, "ChecksumSHA256": checksum},
        )
        return {
            "method": "PUT",
            "url": url,
            "expires_at": self._expires_at(),
            "headers": {"Content-Type": content_type, "Content-Length": str(size), "x-amz-checksum-sha256": checksum},
        }

    def presign_get(self, sha256: str) -> dict[str, Any] | None:
        url = self._presign("get_object", {"Key": self._key(sha256)})
        return {"url": url, "expires_at": self._expires_at()}


def make_store(config: Mapping[str, Any]) -> BlobStore:
    """The store the configuration names: S3 when a bucket is set, otherwise the folder."""
    if config.get("S3_BUCKET"):
        return S3Store(
            config["S3_BUCKET"],
            endpoint_url=config.get("S3_ENDPOINT_URL") or None,
            region=config.get("S3_REGION") or "us-east-1",
            presign_seconds=int(config.get("PRESIGN_SECONDS") or 300),
        )
    return LocalStore(config["BLOB_DIR"])


def get_store() -> BlobStore:
    """The current app's store, built once: a boto3 client is costly to create and thread-safe."""
    store = current_app.extensions.get("doorstep.blob_store")
    if store is None:
        store = current_app.extensions["doorstep.blob_store"] = make_store(current_app.config)
    return store
