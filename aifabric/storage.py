"""Object storage over the S3 API (SeaweedFS embedded, MinIO or any S3 in a cluster)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from minio import Minio
from minio.error import S3Error
from urllib3.exceptions import HTTPError

from aifabric.config import Settings
from aifabric.errors import NotFound, Unavailable


class ObjectStore:
    """Thin facade over ``minio.Minio`` that speaks our errors and our default bucket."""

    def __init__(self, settings: Settings, bucket: str | None = None) -> None:
        s = settings.resolved()
        url = urlparse(s.s3.endpoint)
        self.bucket = bucket or s.s3.bucket
        self.endpoint = s.s3.endpoint
        self.client = Minio(
            url.netloc,
            access_key=s.s3.access_key.get_secret_value() or None,
            secret_key=s.s3.secret_key.get_secret_value() or None,
            secure=url.scheme == "https",
            region=s.s3.region,
        )

    def uri(self, key: str, bucket: str | None = None) -> str:
        return f"s3://{bucket or self.bucket}/{key}"

    def ensure_bucket(self, bucket: str | None = None) -> None:
        name = bucket or self.bucket
        try:
            if not self.client.bucket_exists(name):
                self.client.make_bucket(name)
        except S3Error as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise Unavailable(f"S3 bucket {name!r}: {exc.code}: {exc.message}") from None
        except HTTPError as exc:
            raise Unavailable(f"S3 at {self.endpoint} does not answer: {exc}") from None

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        try:
            self.client.put_object(self.bucket, key, io.BytesIO(data), len(data), content_type=content_type)
        except HTTPError as exc:
            raise Unavailable(f"S3 at {self.endpoint} does not answer: {exc}") from None
        return self.uri(key)

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> str:
        self.client.fput_object(self.bucket, key, str(path), content_type=content_type)
        return self.uri(key)

    def get_bytes(self, key: str) -> bytes:
        try:
            resp = self.client.get_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket"):
                raise NotFound(f"object {self.uri(key)} does not exist") from None
            raise
        try:
            return resp.read()
        finally:
            resp.close()
            resp.release_conn()

    def fget(self, key: str, path: Path) -> Path:
        try:
            self.client.fget_object(self.bucket, key, str(path))
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket"):
                raise NotFound(f"object {self.uri(key)} does not exist") from None
            raise
        return path

    def exists(self, key: str) -> bool:
        try:
            self.client.stat_object(self.bucket, key)
            return True
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket", "NoSuchObject"):
                return False
            raise

    def list(self, prefix: str = "") -> Iterator[str]:
        for obj in self.client.list_objects(self.bucket, prefix=prefix, recursive=True):
            yield obj.object_name

    def delete(self, key: str) -> None:
        self.client.remove_object(self.bucket, key)
