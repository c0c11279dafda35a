"""E-mail (.eml): sender, recipients, subject and date as metadata; the body as elements."""

from __future__ import annotations

import contextlib
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

from gristmill.documents.elements import Elements


def partition_email(data: bytes, out: Elements) -> None:
    from gristmill.documents.markup import partition_html
    from gristmill.documents.text import decode, paragraphs

    message = BytesParser(policy=policy.default).parsebytes(data)
    meta = {
        "sent_from": _addresses(message, "from"),
        "sent_to": _addresses(message, "to"),
        "subject": str(message.get("subject", "")),
    }
    with contextlib.suppress(TypeError, ValueError):  # no date, or not one
        meta["last_modified"] = parsedate_to_datetime(str(message["date"])).isoformat()
    out.metadata.update({k: v for k, v in meta.items() if v})
    for address in meta["sent_from"]:
        out.add("EmailAddress", address)
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return
    try:
        content = body.get_content()
    except LookupError:  # a charset Python does not know: found from the bytes instead
        payload = body.get_payload(decode=True)
        content = decode(payload if isinstance(payload, bytes) else b"")
    if body.get_content_type() == "text/html":
        partition_html(content.encode("utf-8"), out)
    else:
        paragraphs(content, out)


def _addresses(message: EmailMessage, field: str) -> list[str]:
    """Each address of FIELD on its own ("To: a@x, b@y" is two), as unstructured lists them."""
    return [str(address) for header in message.get_all(field, []) for address in header.addresses]
