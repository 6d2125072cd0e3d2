"""Captures as objects in S3-compatible storage (`MONITOR_ARCHIVE_URL=s3://bucket/prefix`).

Each capture is ONE object: its WARC records as the local archive writes them (one gzip member per record),
so a WACZ export concatenates objects as it concatenates byte ranges of local files. The key is the
object's own SHA-256 (`prefix/<sha256>.warc.gz`): uploading the same capture twice writes the same object,
which is what makes the spool's retry idempotent (spool.py). Every PUT carries `ChecksumSHA256`, so the
service refuses bytes damaged on the way; the index row keeps the key (`warc_file` = `s3://bucket/key`) and
the SHA-256 (`object_sha256`), which `verify` checks on every read.

Credentials, endpoint and region come only from the standard AWS variables, read by boto3 itself
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3, AWS_DEFAULT_REGION, or
~/.aws): nothing here reads or logs them. boto3 is imported only when an object is written or read (the
optional extra `pip install 'pamir-monitor[s3]'`).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from urllib.parse import urlsplit

SCHEME = "s3://"
INSTALL_HINT = "MONITOR_ARCHIVE_URL needs boto3: pip install 'pamir-monitor[s3]' (or pip install boto3)"


class ObjectStoreError(OSError):
    """The bucket could not be used (unreachable, refused, missing object): `strerror` says which, in one line."""

    def __init__(self, message: str, *, missing: bool = False):
        super().__init__(message)
        self.strerror = message
        self.missing = missing


_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")  # S3's bucket naming rules


class ArchiveURLError(RuntimeError, ValueError):
    """MONITOR_ARCHIVE_URL cannot be used: the CLI prints it as one `error:` line."""


def parse_url(url: str) -> tuple[str, str]:
    """(bucket, prefix without slashes at either end) of `s3://bucket/prefix`; ArchiveURLError on anything else."""
    parts = urlsplit(url)
    if "@" in url or ":" in parts.netloc:  # keys belong in the AWS variables: never echoed, never stored in a capture's row
        raise ArchiveURLError("MONITOR_ARCHIVE_URL must not hold credentials or a port: give them in AWS_ACCESS_KEY_ID and "
                              "AWS_SECRET_ACCESS_KEY (and the endpoint in AWS_ENDPOINT_URL)")
    if (parts.scheme != "s3" or not _BUCKET.fullmatch(parts.netloc) or parts.query or parts.fragment):
        raise ArchiveURLError("MONITOR_ARCHIVE_URL must look like s3://bucket/prefix (a bucket name of 3-63 "
                              "lowercase letters, digits, dots and hyphens)")  # not echoed: it may hold a key
    return parts.netloc, parts.path.strip("/")


def object_url(bucket: str, key: str) -> str:
    return f"{SCHEME}{bucket}/{key}"


def is_object_url(name: str | None) -> bool:
    return bool(name) and str(name).startswith(SCHEME)


def _client():
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ObjectStoreError(INSTALL_HINT) from None
    import logging

    for name in ("boto3", "botocore", "s3transfer"):  # their DEBUG lines carry the Authorization header: never, even
        logging.getLogger(name).setLevel(logging.WARNING)  # under -vv
    # short timeouts and one retry: a bucket that is down must cost a cycle seconds, not minutes (the spool waits)
    config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2, "mode": "standard"},
                    request_checksum_calculation="when_required", response_checksum_validation="when_required")
    return boto3.session.Session().client("s3", config=config)


def _explain(exc: BaseException) -> str:
    """One line for a boto3/botocore error, without the request's headers (they carry the signature)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        err = response.get("Error", {})
        return f"{err.get('Code', 'error')}: {err.get('Message', '') or 'refused'}".rstrip(": ")
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'failed'}"


class ObjectStore:
    """One bucket and prefix. The boto3 client is made at first use, never for a run that writes nothing."""

    def __init__(self, bucket: str, prefix: str = ""):
        self.bucket, self.prefix = bucket, prefix
        self._s3 = None

    @classmethod
    def from_environment(cls) -> "ObjectStore | None":
        """The store named by MONITOR_ARCHIVE_URL, or None when it is unset (captures go to local WARC files)."""
        url = os.environ.get("MONITOR_ARCHIVE_URL", "").strip()
        if not url:
            return None
        bucket, prefix = parse_url(url)
        from importlib.util import find_spec

        if find_spec("boto3") is None:  # said once, before anything is fetched, not at the first capture
            raise ArchiveURLError(INSTALL_HINT)
        return cls(bucket, prefix)

    @classmethod
    def for_object(cls, url: str) -> tuple["ObjectStore", str]:
        """(store, key) of an indexed object URL: reads need no MONITOR_ARCHIVE_URL, only the AWS variables."""
        bucket, key = parse_url(url)
        return cls(bucket), key

    @property
    def url(self) -> str:
        return object_url(self.bucket, self.prefix)

    @property
    def s3(self):
        if self._s3 is None:
            self._s3 = _client()
        return self._s3

    def key_for(self, sha256_hex: str) -> str:
        return f"{self.prefix}/{sha256_hex}.warc.gz" if self.prefix else f"{sha256_hex}.warc.gz"

    def put(self, key: str, data: bytes, sha256_hex: str) -> None:
        """PUT with the SHA-256 the service must find (it refuses the object otherwise)."""
        checksum = base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii")
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum,
                               ContentType="application/warc", ContentLength=len(data))
        except ObjectStoreError:
            raise
        except Exception as exc:  # botocore's ClientError, EndpointConnectionError, ReadTimeout …
            raise ObjectStoreError(f"could not store {object_url(self.bucket, key)} ({_explain(exc)})") from None

    def has(self, key: str, length: int) -> bool:
        """Whether the object is there already with this size (the spool's retry then skips the upload)."""
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
        except ObjectStoreError:
            raise
        except Exception as exc:
            if _status(exc) in (403, 404):  # 403: a missing key, to a key without s3:ListBucket; PUT is idempotent
                return False
            raise ObjectStoreError(f"could not reach {object_url(self.bucket, key)} ({_explain(exc)})") from None
        return int(head.get("ContentLength", -1)) == length

    def get(self, key: str, offset: int = 0, length: int | None = None) -> bytes:
        """The object's bytes (a range when `length` is given)."""
        args = {"Bucket": self.bucket, "Key": key}
        if length is not None and (offset or length):
            args["Range"] = f"bytes={offset}-{offset + length - 1}"
        try:
            return self.s3.get_object(**args)["Body"].read()
        except ObjectStoreError:
            raise
        except Exception as exc:
            where = object_url(self.bucket, key)
            if _status(exc) == 404 or "NoSuchKey" in _explain(exc):
                raise ObjectStoreError(f"{where} is missing from the bucket", missing=True) from None
            raise ObjectStoreError(f"could not read {where} ({_explain(exc)})") from None


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_object(url: str, offset: int = 0, length: int | None = None) -> bytes:
    """An indexed capture's bytes from its object URL (`s3://bucket/key`)."""
    store, key = ObjectStore.for_object(url)
    return store.get(key, offset, length)


_POOL = None  # the bucket's own worker threads (see in_bucket_thread)


async def in_bucket_thread(fn, *args, **kwargs):
    """`fn(*args, **kwargs)` in a thread of the bucket's own pool, in a copy of the caller's context (as
    asyncio.to_thread). Not the loop's default pool: it also resolves every host name (getaddrinfo) and renders
    the screenshots, and a slow bucket holding its few threads would make new connections, so polls, time out."""
    import asyncio
    import contextvars
    import functools
    from concurrent.futures import ThreadPoolExecutor

    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="bucket")
    call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_POOL, call)

