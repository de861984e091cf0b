"""Attachments on S3, against a real moto server over HTTP: the tablet's upload goes to a
presigned URL with plain HTTP, never through the API, exactly as in production."""

from __future__ import annotations

import http.client
import socket
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.config import Config as BotoConfig

from app import attachments
from app.db import utcnow
from app.storage import sha256_b64
from compose import create_app
from tests.app.attachments.helpers import declaration, jpeg, pdf, png, sha
from tests.fixtures.database import make_config

URL = "/api/v1/attachments"
BUCKET = "doorstep-test-blobs"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def moto_endpoint():
    """A moto S3 server on a free port, with test credentials in the environment (boto3 reads
    them from there, as it would read real ones in production)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    endpoint = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.delenv("AWS_SESSION_TOKEN", raising=False)
        mp.delenv("AWS_PROFILE", raising=False)
        boto3.client(
            "s3", endpoint_url=endpoint, region_name=REGION, config=BotoConfig(s3={"addressing_style": "path"})
        ).create_bucket(Bucket=BUCKET)
        yield endpoint
    server.stop()


@pytest.fixture(scope="module")
def bucket(moto_endpoint):
    """The test's own view of the bucket, to see what the API left in it."""
    return boto3.client(
        "s3", endpoint_url=moto_endpoint, region_name=REGION, config=BotoConfig(s3={"addressing_style": "path"})
    )


@pytest.fixture(scope="module")
def s3_app(app, moto_endpoint):
    """A second app on the session's database (``app`` migrated it) whose blob store is the bucket."""
    return create_app(
        make_config(S3_BUCKET=BUCKET, S3_ENDPOINT_URL=moto_endpoint, S3_REGION=REGION, PRESIGN_SECONDS=300)
    )


@pytest.fixture
def api(s3_app):
    return s3_app.test_client()


def send(method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    """Plain HTTP, as a tablet would do it: no boto3, no Flask test client."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(
            method, f"{parts.path}?{parts.query}" if parts.query else parts.path, body=body, headers=headers or {}
        )
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def declared(api, headers, data, content_type="image/png", kind="photo"):
    resp = api.post(URL, json=declaration(data, content_type, kind), headers=headers)
    assert resp.status_code == 201, resp.json
    return resp.json["upload"]


def exists(bucket, digest: str) -> bool:
    return bucket.list_objects_v2(Bucket=BUCKET, Prefix=f"blobs/{digest}").get("KeyCount", 0) == 1


def test_presigned_upload_confirm_and_presigned_download(s3_app, api, bucket, make, world, moto_endpoint):
    officer = make.auth(world.officer[0])
    data = png(40_000)
    upload = declared(api, officer, data)

    assert upload["method"] == "PUT" and upload["url"].startswith(f"{moto_endpoint}/{BUCKET}/blobs/{sha(data)}?")
    query = parse_qs(urlsplit(upload["url"]).query)
    # The type, the length and the checksum are signed: real S3 refuses a PUT that differs in any.
    assert set(query["X-Amz-SignedHeaders"][0].split(";")) == {
        "content-length",
        "content-type",
        "host",
        "x-amz-checksum-sha256",
    }
    assert query["X-Amz-Expires"] == ["300"]
    assert upload["headers"] == {
        "Content-Type": "image/png",
        "Content-Length": str(len(data)),
        "x-amz-checksum-sha256": sha256_b64(sha(data)),
    }
    expires_at = datetime.fromisoformat(upload["expires_at"])
    assert timedelta(seconds=290) < expires_at - utcnow() <= timedelta(seconds=300)

    status, _ = send("PUT", upload["url"], data, upload["headers"])
    assert status == 200
    with s3_app.app_context():
        assert not attachments.is_stored(sha(data))  # uploaded, not yet checked

    resp = api.post(f"{URL}/{sha(data)}/confirm", headers=officer)
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "stored"
    with s3_app.app_context():
        assert attachments.is_stored(sha(data))
    assert api.post(f"{URL}/{sha(data)}/confirm", headers=officer).status_code == 200  # a retry is answered

    meta = api.get(f"{URL}/{sha(data)}", headers=make.auth(world.staff[0])).json
    assert meta["download"]["url"].startswith(f"{moto_endpoint}/{BUCKET}/blobs/{sha(data)}?")
    assert meta["download"]["expires_at"]
    assert send("GET", meta["download"]["url"]) == (200, data)
    # the API serves the same bytes to a client that cannot reach the bucket
    assert api.get(f"{URL}/{sha(data)}/content", headers=officer).data == data
    # and declaring the hash again hands out no upload
    again = api.post(URL, json=declaration(data), headers=officer)
    assert again.status_code == 200 and again.json["upload"] is None


def test_other_bytes_sent_to_the_presigned_url_never_become_stored(s3_app, api, bucket, make, world):
    """Real S3 answers 400 BadDigest when the body does not match the signed
    ``x-amz-checksum-sha256``. moto 5.2.5 does not check it (nor the signature): it stores the
    bytes and answers 200. The confirm step therefore re-hashes what is in the bucket, refuses
    it with 422, and deletes it, so the outcome is the same as on S3: nothing wrong is stored."""
    officer = make.auth(world.officer[0])
    data = png()
    upload = declared(api, officer, data)
    status, _ = send("PUT", upload["url"], png(), upload["headers"])
    assert status == 200  # moto's behaviour; S3 itself would answer 400 here

    resp = api.post(f"{URL}/{sha(data)}/confirm", headers=officer)
    assert resp.status_code == 422 and "sha256" in resp.json["errors"]
    assert not exists(bucket, sha(data))
    with s3_app.app_context():
        assert not attachments.is_stored(sha(data))

    # the right bytes afterwards are accepted
    assert send("PUT", upload["url"], data, upload["headers"])[0] == 200
    assert api.post(f"{URL}/{sha(data)}/confirm", headers=officer).json["status"] == "stored"


def test_a_file_whose_bytes_are_not_its_declared_type_is_refused_and_deleted(api, bucket, make, world):
    officer = make.auth(world.officer[0])
    data = pdf()  # the hash is right, the declared type is not
    upload = declared(api, officer, data, content_type="image/png")
    assert send("PUT", upload["url"], data, upload["headers"])[0] == 200
    resp = api.post(f"{URL}/{sha(data)}/confirm", headers=officer)
    assert resp.status_code == 422 and "content_type" in resp.json["errors"]
    assert not exists(bucket, sha(data))


def test_an_object_stored_with_another_content_type_is_refused(api, bucket, make, world):
    """moto ignores the signed Content-Type too; confirm compares the object's type with the declaration."""
    officer = make.auth(world.officer[0])
    data = jpeg()
    upload = declared(api, officer, data, content_type="image/jpeg")
    assert send("PUT", upload["url"], data, {**upload["headers"], "Content-Type": "text/html"})[0] == 200
    resp = api.post(f"{URL}/{sha(data)}/confirm", headers=officer)
    assert resp.status_code == 422 and "content_type" in resp.json["errors"]
    assert not exists(bucket, sha(data))


def test_confirm_before_the_upload_is_a_conflict(api, make, world):
    officer = make.auth(world.officer[0])
    data = png()
    declared(api, officer, data)
    resp = api.post(f"{URL}/{sha(data)}/confirm", headers=officer)
    assert resp.status_code == 409
    assert resp.json["type"].endswith("/attachment-not-uploaded") and "sha256" in resp.json["errors"]


def test_the_api_upload_route_also_writes_to_the_bucket(api, bucket, make, world):
    """A client that cannot reach the bucket may send the bytes through the API instead."""
    citizen = make.auth(world.citizen)
    data = pdf(2048)
    declared(api, citizen, data, content_type="application/pdf", kind="material")
    resp = api.put(f"{URL}/{sha(data)}/content", data=data, content_type="application/pdf", headers=citizen)
    assert resp.status_code == 200 and resp.json["status"] == "stored"
    head = bucket.head_object(Bucket=BUCKET, Key=f"blobs/{sha(data)}")
    assert head["ContentType"] == "application/pdf" and head["ContentLength"] == 2048
    assert bucket.get_object(Bucket=BUCKET, Key=f"blobs/{sha(data)}")["Body"].read() == data


def test_an_unreachable_store_is_a_503_not_a_crash(app, make, world, moto_endpoint):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    down = create_app(
        make_config(S3_BUCKET=BUCKET, S3_ENDPOINT_URL=f"http://127.0.0.1:{closed_port}", S3_REGION=REGION)
    )
    client = down.test_client()
    officer = make.auth(world.officer[0])
    data = png()
    assert client.post(URL, json=declaration(data), headers=officer).status_code == 201  # signing is local
    resp = client.post(f"{URL}/{sha(data)}/confirm", headers=officer)
    assert resp.status_code == 503 and resp.json["type"].endswith("/blob-store-unavailable")
