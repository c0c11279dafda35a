"""E-mail (.eml): sender, recipients, subject and date as metadata; the body as elements."""

from __future__ import annotations

import contextlib
from email import policy
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

from gristmill.documents.elements import Elements


def partition_email(data: bytes, out: Elements) -> None:
    from gristmill.documents.markup import partition_html
    from gristmill.documents.text import paragraphs

    message = BytesParser(policy=policy.default).parsebytes(data)
    meta = {
        "sent_from": [str(a) for a in message.get_all("from", [])],
        "sent_to": [str(a) for a in message.get_all("to", [])],
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
    content = body.get_content()
    if body.get_content_type() == "text/html":
        partition_html(content.encode("utf-8"), out)
    else:
        paragraphs(content, out)
