"""upload3's event message, as the document describes its ``message`` form field: the
channel it is appended to, the subject and body passed through, and one entry per
attachment naming the form field that holds its bytes. Parsing only: storing the
attachments and appending the event is the service's."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ...core import jsonbody
from ...core.errors import VendorError
from .rules import CHANNELS, EXPIRY_DAYS, MAX_METADATA_BYTES, bad, check_key, is_uint

MAX_MESSAGE_BYTES = 4096  # "表单大小小于等于4K"
_ATTACHMENT_FIELDS = ("form_field", "key", "area_id", "metadata", "url", "file_name", "expiretype")
_MESSAGE_FIELDS = ("channel_id", "subject", "body", "attachments")


@dataclass(frozen=True)
class Attachment:
    form_field: str
    key: str | None
    metadata: Any
    file_name: str
    expire_type: int
    extra: dict[str, Any]  # fields the client sent beyond the documented ones


@dataclass(frozen=True)
class EventMessage:
    channel_id: int
    subject: Any
    body: Any
    attachments: list[Attachment]
    extra: dict[str, Any] = field(default_factory=dict)

    def field_names(self) -> list[str]:
        return [a.form_field for a in self.attachments]


def parse_message(raw: bytes) -> EventMessage:
    """upload3's ``message`` form field (at most 4K of JSON): the channel, the subject and
    body as given, and each attachment's form field, key, metadata, file name and expiry."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise bad(f"message is larger than {MAX_MESSAGE_BYTES} bytes (4K)")
    try:
        doc = jsonbody.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise bad("message is not valid JSON") from None
    if not isinstance(doc, dict):
        raise bad("message must be a JSON object")
    if "channel_id" not in doc:
        raise bad("message.channel_id is required")
    channel = doc["channel_id"]
    if not is_uint(channel) or channel not in CHANNELS:
        raise bad(f"message.channel_id must be an integer within 0-15, not {json.dumps(channel)}")
    raw_attachments = doc.get("attachments")
    if raw_attachments is None:
        raw_attachments = []
    if not isinstance(raw_attachments, list):
        raise bad("message.attachments must be an array")
    attachments: list[Attachment] = []
    seen: set[str] = set()
    for i, a in enumerate(raw_attachments):
        where = f"message.attachments[{i}]"
        if not isinstance(a, dict):
            raise bad(f"{where} must be an object")
        form_field = a.get("form_field")
        if not isinstance(form_field, str) or form_field == "":
            raise bad(f"{where}.form_field must name the form field that holds the attachment")
        if form_field == "message" or form_field in seen:
            raise bad(f"{where}.form_field {form_field!r} is used twice")
        seen.add(form_field)
        key = a.get("key")
        if key is not None and not isinstance(key, str):
            raise bad(f"{where}.key must be a string")
        metadata = a.get("metadata", {})
        if metadata is None:
            metadata = {}
        if len(json.dumps(metadata, ensure_ascii=False).encode("utf-8")) > MAX_METADATA_BYTES:
            raise bad(f"{where}.metadata is longer than {MAX_METADATA_BYTES} bytes")
        file_name = a.get("file_name")
        if file_name is None:
            file_name = ""
        if not isinstance(file_name, str):
            raise bad(f"{where}.file_name must be a string")
        expire_type = a.get("expiretype", 0)
        if not is_uint(expire_type) or expire_type not in EXPIRY_DAYS:
            raise bad(f"{where}.expiretype must be 0, 1, 2 or 3, not {json.dumps(expire_type)}")
        try:
            checked = check_key(key)
        except VendorError as err:  # name the attachment in the message
            raise bad(f"{where}: {err.message}") from None
        attachments.append(
            Attachment(form_field, checked, metadata, file_name, expire_type,
                       {k: v for k, v in a.items() if k not in _ATTACHMENT_FIELDS})
        )
    return EventMessage(
        channel_id=channel,
        subject=doc.get("subject", ""),
        body=doc.get("body", {}),
        attachments=attachments,
        extra={k: v for k, v in doc.items() if k not in _MESSAGE_FIELDS},
    )
