"""A store's error, whatever its library, as one line that says what to do.

Backends raise botocore, azure-core, google-auth, aiohttp or plain OS errors; they are
told apart by name so that none of those libraries has to be imported here.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

from gristmill.storage.options import AZURE, GCS, S3
from gristmill.storage.urls import is_remote, protocol, redact

MISSING, DENIED, UNREACHABLE = "missing", "denied", "unreachable"
KNOWN_URLS = "s3://, gs://, az:// (abfs://), an Azure SAS https:// URL, http(s)://, or memory://"

_NAMES = {
    MISSING: ("NoSuchBucket", "ContainerNotFound", "ResourceNotFoundError", "NotFound"),
    DENIED: (
        "NoCredentialsError",
        "PartialCredentialsError",
        "ClientAuthenticationError",
        "CredentialUnavailableError",
        "DefaultCredentialsError",
        "RefreshError",
        "Forbidden",
        "Unauthorized",
    ),
    UNREACHABLE: (
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ClientConnectorError",
        "ServiceRequestError",
        "ConnectionRefusedError",
        "ConnectionError",
        "ServerDisconnectedError",
        "gaierror",  # a host name that does not resolve
    ),
}
_WORDS = {
    MISSING: ("NoSuchBucket", "ContainerNotFound", "The specified container does not exist"),
    DENIED: (
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AuthorizationFailure",
        "AuthenticationFailed",
        "AuthorizationPermissionMismatch",
        "ExpiredToken",
        "Unable to locate credentials",
        "Must provide either a connection_string",
        "failed to authenticate",
        "Anonymous caller",
    ),
}


def kind(exc: BaseException) -> str | None:
    """``missing``, ``denied``, ``unreachable``, or None, from the error or its causes."""
    for error in _chain(exc):
        names = {cls.__name__ for cls in type(error).__mro__}
        text = str(error)
        for what in (DENIED, MISSING, UNREACHABLE):
            if names & set(_NAMES[what]) or any(word in text for word in _WORDS.get(what, ())):
                return what
        if isinstance(error, PermissionError):
            return DENIED
        if isinstance(error, FileNotFoundError):
            return MISSING
    return None


# What to do about a local file's error, by errno.
LOCAL_ADVICE = {
    errno.ENAMETOOLONG: "a name there may have at most 255 bytes; shorten the file's name or path",
    errno.ENOSPC: "the disk is full; make room and run again",
    errno.EDQUOT: "the disk quota is used up; make room and run again",
    errno.EROFS: "the filesystem is read-only; choose another place",
}


def explain(exc: BaseException, url: str, doing: str, *, anonymous: bool = False) -> str:
    """``cannot <doing> <url>: <what happened>; <what to do>``, secrets masked; ``anonymous``:
    no credentials were sent (``--anonymous``)."""
    what = kind(exc)
    detail = redact(_first_line(exc))
    place = redact(url)
    if isinstance(exc, OSError) and exc.errno in LOCAL_ADVICE and not is_remote(url):
        return f"cannot {doing} {place}: {exc.strerror}; {LOCAL_ADVICE[exc.errno]}"
    if "Protocol not known" in detail:  # fsspec's word for a scheme it has no backend for
        return (
            f"cannot {doing} {place}: gristmill does not know {protocol(url)}:// URLs; give a local "
            f"path or one of {KNOWN_URLS}"
        )
    if what == MISSING and not is_remote(url):
        return f"cannot {doing} {place}: it does not exist; check the path"
    if what == MISSING:
        return f"cannot {doing} {place}: it does not exist ({detail}); check the bucket or container name"
    if what == DENIED and not is_remote(url):
        return f"cannot {doing} {place}: permission denied ({detail}); check its permissions and owner"
    if what == DENIED and anonymous:
        return (
            f"cannot {doing} {place} without credentials (--anonymous): it is not public ({detail}); "
            + _credentials_advice(protocol(url), anonymous=True)
        )
    if what == DENIED:
        return f"cannot {doing} {place}: the credentials are missing or were refused ({detail}); " + (
            _credentials_advice(protocol(url))
        )
    if what == UNREACHABLE:
        advice = _endpoint_advice(protocol(url))
        return f"cannot {doing} {place}: the store does not answer ({detail}); {advice}"
    return f"cannot {doing} {place}: {type(exc).__name__}: {detail}"


def _endpoint_advice(proto: str) -> str:
    """What to check when a store does not answer: where its address comes from."""
    if proto in AZURE:
        where = "the connection string or SAS URL"
    elif proto in GCS:
        where = "--endpoint-url, STORAGE_EMULATOR_HOST"
    elif proto in S3:
        where = "--endpoint-url, AWS_ENDPOINT_URL"
    else:  # http://, ftp://...: the address is the URL's own
        return "check the URL's host name and port, and the network"
    return f"check the endpoint ({where}) and the network"


# Where each store's credentials come from; and what a public bucket or container is called.
_CREDENTIALS = {
    "s3": ("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE", "bucket"),
    "azure": (
        "set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_SAS_URL (a container SAS URL), "
        "or AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY",
        "container",
    ),
    "gcs": ("set GOOGLE_APPLICATION_CREDENTIALS to a service account key file", "bucket"),
}


def _credentials_advice(proto: str, *, anonymous: bool = False) -> str:
    """Where to give credentials; and, unless they were left out on purpose, --anonymous."""
    store = "s3" if proto in S3 else "azure" if proto in AZURE else "gcs" if proto in GCS else None
    if store is None:
        return "check the storage options"
    where, kind = _CREDENTIALS[store]
    return where if anonymous else f"{where}, or pass --anonymous for a public {kind}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
