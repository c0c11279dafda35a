"""What a URL points at, and the same URL (or any message) with its secrets masked."""

from __future__ import annotations

import re

LOCAL_PROTOCOLS = frozenset({"", "file", "local"})
MASK = "***"

# Query parameters, connection-string fields, variables and dict keys that carry a secret, in
# any syntax: a name (with a prefix: AWS_SECRET_ACCESS_KEY, PGPASSWORD, client_secret), then =
# (or, quoted as a dict's key, a colon), then the value, perhaps quoted (or bytes: b'...').
_SECRET_NAMES = (
    r"sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature"
    r"|x-goog-credential|sharedaccesssignature|accountkey|access_token|token|secret|password|passwd"
    r"|api_?key|(?:access|secret|private|account)_key"
)
_QUOTE = r"(?:b(?=['\"]))?['\"]?"
_SECRET_PARAMS = re.compile(
    rf"(?i)(\b[a-z0-9_]*(?:{_SECRET_NAMES})|(?<=[?&])key)"  # ?key=: a Google-style query value
    rf"(\s*=\s*{_QUOTE}|['\"]\s*[:=]\s*{_QUOTE})(?!\*\*\*|b['\"])"
    r"([^&;,\s'\"]+?)(?=:?(?:[&;,\s'\"]|$))"  # a colon that ends a message's clause is not the secret's
)
# "password: hunter2", as a config file or a log line says it (only names no prose uses so)
_SECRET_LABELS = re.compile(r"(?i)(\b[a-z0-9_]*(?:password|passwd|secret|api_?key)\s*:\s+)([^\s'\",;]+)")
# Secrets in HTTP headers: a header dict's repr ('X-Amz-Security-Token': b'...',
# 'Authorization': 'Basic ...'), a canonical request's line (x-amz-security-token:...).
_SECRET_HEADERS = re.compile(
    rf"(?i)(\b(?:x-amz-security-token|x-api-key|api-key|authorization)['\"]?\s*:\s*{_QUOTE}"
    r"(?:basic\s+|bearer\s+)?|\bbearer\s+)([^\s'\",]+)"
)
# user:password@ in a URL. The user may be empty (libpq takes postgresql://:pw@host), and the
# password runs to the last @ of the word: it may hold a raw / or @; "..." ends it where
# pydantic cut a long input short.
_URL_USERINFO = re.compile(
    r"(?i)(\b[a-z][a-z0-9+.\-]*://)([^\s'\"/@:]*):(?:[^\s'\"]*(@)|[^\s'\"@]*?(\.\.\.))"
)
# The same without a scheme, as s3fs logs a bucket (KEY:SECRET@bucket): a word of its own,
# not an address (mailto:, sip:) nor a Windows path (C:\Users\bob@corp).
_BARE_USERINFO = re.compile(
    r"(?i)(?<![^\s'\"(\[{<=,])(?!(?:mailto|urn|tel|sip|sips|news|xmpp):)([^\s'\"/@:\\]+):(?!//)[^\s'\"\\]*@"
)


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
    text = _URL_USERINFO.sub(rf"\1\2:{MASK}\3\4", text)
    text = _BARE_USERINFO.sub(rf"\1:{MASK}@", text)
    text = _SECRET_HEADERS.sub(rf"\1{MASK}", text)
    text = _SECRET_LABELS.sub(rf"\1{MASK}", text)
    return _SECRET_PARAMS.sub(rf"\1\2{MASK}", text)


def check_password(url: str, what: str) -> None:
    """Refuse a URL whose password holds a raw ``/`` or ``@``: every parser ends the host part
    at the first ``/`` and the password at the first ``@``, and so would try to reach a host
    named after the user, or after the password's end. WHAT names the URL in the message."""
    from gristmill._exceptions import ConfigError

    rest = url.partition("://")[2]
    if not protocol(url) or not rest:
        return
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    port = authority.rpartition(":")[2]
    slash = "@" not in authority and ":" in authority and "@" in rest and not port.isdigit()
    if authority.count("@") > 1 or (slash and not authority.endswith("]")):  # "]": an IPv6 host
        raise ConfigError(
            f"{what} {redact(url)} is not a valid URL: its password holds a raw '/' or '@'; "
            "percent-encode them in the URL (/ as %2F, @ as %40)"
        )


def parent_and_name(url: str) -> tuple[str, str]:
    """A file's URL (or path) as its folder's and its name; a query string (an Azure SAS)
    stays with the folder. A URL that names a folder or a bucket and no file is refused."""
    from gristmill._exceptions import ConfigError

    base, mark, query = url.partition("?")
    parent, _, name = base.rpartition("/")
    if not name or (parent.endswith(":/") and protocol(base)):
        raise ConfigError(f"{redact(url)} names a folder, not a file; give the file's name too")
    return (parent or ("/" if base.startswith("/") else ".")) + mark + query, name
