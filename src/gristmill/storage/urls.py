"""What a URL points at, and the same URL (or any message) with its secrets masked."""

from __future__ import annotations

import re

LOCAL_PROTOCOLS = frozenset({"", "file", "local"})
MASK = "***"

# Query parameters and connection-string fields that carry a secret, in any store's syntax.
_SECRET_PARAMS = re.compile(
    r"(?i)\b(sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature"
    r"|x-goog-credential|sharedaccesssignature|accountkey|access_token|token|secret|password)"
    r"=([^&;\s'\"]+?)(?=:?(?:[&;\s'\"]|$))"  # a colon that ends a message's clause is not the secret's
)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/@\s:]+):([^/@\s]+)@")


def protocol(url: str) -> str:
    """``s3`` for ``s3://bucket/key``; ``""`` for a local path."""
    head, sep, _ = url.partition("://")
    return head.lower() if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*", head) else ""


def is_remote(url: str) -> bool:
    """True for a URL that fsspec reaches through a store (``memory://`` included)."""
    return protocol(url) not in LOCAL_PROTOCOLS


def redact(text: str) -> str:
    """``text`` with signatures, keys, tokens and passwords replaced by ``***``.

    Applied to every message that may quote a URL or a connection string: errors, the
    manifest's description of its source, the ledger's failure messages and tracebacks.
    """
    text = _USERINFO.sub(rf"\1\2:{MASK}@", text)
    return _SECRET_PARAMS.sub(rf"\1={MASK}", text)


def parent_and_name(url: str) -> tuple[str, str]:
    """A file's URL (or path) as its folder's and its name; a query string (an Azure SAS)
    stays with the folder. A URL that names a folder or a bucket and no file is refused."""
    from gristmill._exceptions import ConfigError

    base, mark, query = url.partition("?")
    parent, _, name = base.rpartition("/")
    if not name or (parent.endswith(":/") and protocol(base)):
        raise ConfigError(f"{redact(url)} names a folder, not a file; give the file's name too")
    return (parent or ("/" if base.startswith("/") else ".")) + mark + query, name
