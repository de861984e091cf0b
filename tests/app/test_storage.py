"""The local blob store on its own: layout, atomic writes, and names that cannot escape it."""

from __future__ import annotations

import hashlib

import pytest

from app.storage import API_CONTENT_PATH, BlobHead, BlobMissing, LocalStore, make_store, sha256_b64


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_files_are_sharded_by_hash_prefix_and_written_whole(tmp_path):
    store = LocalStore(tmp_path)
    data = b"%PDF-1.7 hello"
    h = digest(data)
    store.put(h, data, "application/pdf")
    assert (tmp_path / h[:2] / h[2:4] / h).read_bytes() == data
    assert not list(tmp_path.rglob(".incoming-*")), "temporary files left behind"
    assert store.head(h) == BlobHead(len(data), "application/pdf")
    assert store.get(h) == data
    assert store.get(h, max_bytes=3) == data[:4]  # one byte past the limit tells the caller it was exceeded
    store.put(h, data, "application/pdf")  # the same bytes again: harmless
    store.delete(h)
    assert store.head(h) is None
    with pytest.raises(BlobMissing):
        store.get(h)
    store.delete(h)  # deleting twice is fine


@pytest.mark.parametrize("name", ["../../etc/passwd", "A" * 64, "a" * 63, "", "a" * 63 + "/"])
def test_names_other_than_a_sha256_are_refused(tmp_path, name):
    store = LocalStore(tmp_path)
    with pytest.raises(ValueError):
        store.put(name, b"x", "image/png")
    with pytest.raises(ValueError):
        store.head(name)


def test_local_uploads_go_through_the_api(tmp_path):
    store = LocalStore(tmp_path)
    h = digest(b"x")
    assert store.presign_put(h, "image/png", 1) == {
        "method": "PUT",
        "url": API_CONTENT_PATH.format(sha256=h),
        "headers": {"Content-Type": "image/png"},
        "expires_at": None,
    }
    assert store.presign_get(h) is None


def test_the_configuration_chooses_the_store(tmp_path):
    assert isinstance(make_store({"BLOB_DIR": str(tmp_path), "S3_BUCKET": ""}), LocalStore)
    s3 = make_store(
        {
            "BLOB_DIR": str(tmp_path),
            "S3_BUCKET": "doorstep-blobs",
            "S3_ENDPOINT_URL": "http://127.0.0.1:9",
            "S3_REGION": "us-east-1",
            "PRESIGN_SECONDS": 60,
        }
    )
    assert s3.kind == "s3" and s3.client.meta.config.s3["addressing_style"] == "path"
    assert s3.client.meta.endpoint_url == "http://127.0.0.1:9"


def test_the_checksum_s3_wants_is_the_base64_digest():
    assert sha256_b64(digest(b"")) == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
