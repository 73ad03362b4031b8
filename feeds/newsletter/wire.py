"""A digest message's bytes without the email package's per-message cost, byte for byte the same.

Building an ``EmailMessage`` and flattening it costs milliseconds a message,
most of it quoted-printable encoding in pure Python and header parsing; with
nearly every reader's digest different, that is most of a run's CPU. Here the
headers that every message of a run shares are folded once, the per-recipient
ones (To, Message-ID, List-Unsubscribe) are folded by the same policy as
``build_message`` would (the To address made by the same function, IDNA and
all), and the two text parts are encoded as ``build_message`` has ``set_content``
encode them (7bit, 8bit, quoted-printable or base64, by
``mailpolicy.transfer_encoding``), with quoted-printable lines cached: a
section's lines recur in many digests.

The result is what ``build_message(...).as_bytes(policy=MAIL)`` gives with
the same MIME boundary (tests compare the two over many recipients). The
boundary is derived from the Message-ID, so the same message gets the same
bytes. A message the shortcut does not cover (a non-ASCII address, which
goes out with SMTPUTF8 and UTF-8 headers; a boundary that happens to occur
in the text) gets ``build_message``'s bytes, flattened as the transport would.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime
from email import quoprimime
from email.headerregistry import Address
from email.policy import default
from email.utils import format_datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from feeds.config import Settings
from feeds.newsletter.digest import (
    build_message,
    one_line,
    personalize,
    ways_out,
)
from feeds.newsletter.mailpolicy import MAIL, policy_for, recipient_address, transfer_encoding
from feeds.newsletter.state import Variant

if TYPE_CHECKING:
    from feeds.newsletter.audience import Links

CRLF = b"\r\n"
_NEWLINES = re.compile(rb"\r\n|\r|\n")
_QP_CACHE_BYTES = 32_000_000  # encoded lines kept; the cache starts afresh when full


def header_line(name: str, value: object) -> bytes:
    """One header as the generator writes it: stored by the message's policy, folded by MAIL's."""
    stored_name, stored = default.header_store_parse(name, value)
    return MAIL.fold_binary(stored_name, stored)


def boundary_for(message_id: str) -> str:
    """A boundary shaped like the email package's random ones, but the same for the same message."""
    number = int.from_bytes(hashlib.sha256(message_id.encode("utf-8")).digest()[:8], "big")
    return "=" * 15 + f"{number % 10**19:019d}" + "=="


class Encoder:
    """The text parts' encoding as ``build_message`` has ``set_content`` write it."""

    def __init__(self) -> None:
        self.quoted: dict[bytes, bytes] = {}
        self.cached = 0  # bytes held by ``quoted``

    def part(self, text: str, subtype: str, *, added: bool = False) -> bytes:
        """A text part, headers and body, with CRLF line ends.

        A part made by ``add_alternative`` carries its own MIME-Version line.
        """
        cte, body = self.encode(text)
        version = "MIME-Version: 1.0\r\n" if added else ""
        return (
            f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {cte}\r\n{version}\r\n"
        ).encode("ascii") + body

    def encode(self, text: str) -> tuple[str, bytes]:
        lines = text.encode("utf-8").splitlines()
        cte = transfer_encoding(text, default.max_line_length)
        if cte is None:
            body = b"\r\n".join(lines) + CRLF
            return ("7bit" if body.isascii() else "8bit"), body
        if cte == "base64":
            data = base64.encodebytes(b"\n".join(lines) + b"\n")  # 57 bytes a line, as stdlib
            return "base64", data.replace(b"\n", CRLF)
        return "quoted-printable", b"".join(self.quoted_line(line) for line in lines)

    def quoted_line(self, line: bytes) -> bytes:
        """One input line quoted-printable, with its soft breaks, each output line ending in CRLF.

        ``quoprimime.body_encode`` encodes each line on its own (its map
        leaves only CR and LF as line breaks), so a line's encoding can be
        reused wherever the same line appears.
        """
        found = self.quoted.get(line)
        if found is None:
            if self.cached > _QP_CACHE_BYTES:
                self.quoted.clear()
                self.cached = 0
            encoded = quoprimime.body_encode(line.decode("latin-1"), default.max_line_length)
            found = encoded.encode("latin-1").replace(b"\n", CRLF) + CRLF
            self.quoted[line] = found
            self.cached += len(line) + len(found)
        return found


class Wire:
    """Digest messages of one digest as bytes; the headers they share are folded once."""

    def __init__(self, settings: Settings, date: datetime):
        self.settings = settings
        self.encoder = Encoder()
        sender = settings.sender
        self.domain = urlsplit(settings.site.url).hostname or sender.domain
        self.subjects: dict[str, bytes] = {}
        self.sender = header_line(
            "From", Address(one_line(sender.display_name), sender.username, sender.domain)
        )
        self.date = header_line("Date", format_datetime(date))
        self.list_id = header_line(
            "List-Id", f"{one_line(settings.site.title)} <digest.{self.domain}>"
        )
        self.one_click = header_line("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
        self.auto = header_line("Auto-Submitted", "auto-generated") + b"MIME-Version: 1.0\r\n"

    def message(
        self,
        variant: Variant,
        *,
        email: str,
        name: str | None,
        message_id: str,
        date: datetime,
        links: Links | None = None,
    ) -> bytes:
        """``build_message(...)``'s bytes, as the SMTP transport sends them."""
        if not (self.envelope_sender(links) + email).isascii():  # SMTPUTF8: UTF-8 headers
            return self.slow(variant, email, name, message_id, date, links, same_boundary=True)
        list_unsubscribe, one_click, unsubscribe, preferences = ways_out(
            self.settings, email, links
        )
        text = personalize(
            variant.text, email, unsubscribe, html=False, preferences_url=preferences
        )
        html = personalize(variant.html, email, unsubscribe, html=True, preferences_url=preferences)
        boundary = boundary_for(message_id)
        parts = [self.encoder.part(text, "plain"), self.encoder.part(html, "html", added=True)]
        if any(b"--" + boundary.encode("ascii") in part for part in parts):
            return self.slow(variant, email, name, message_id, date, links, same_boundary=False)
        uris = header_line("List-Unsubscribe", list_unsubscribe)
        if one_click:
            uris += self.one_click
        head = [
            self.subject(variant.subject),
            self.sender,
            header_line("To", recipient_address(one_line(name or ""), email)),
            self.date,
            header_line("Message-ID", message_id),
            self.list_id,
            uris,
            self.auto,
            header_line("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
        ]
        line = b"--" + boundary.encode("ascii")
        return b"".join(
            [*head, CRLF, line, CRLF, parts[0], CRLF, line, CRLF, parts[1], CRLF, line, b"--", CRLF]
        )

    def envelope_sender(self, links: Links | None) -> str:
        """MAIL FROM: the reader's VERP address with a web section, else the sender."""
        return links.envelope_sender if links else self.settings.sender.addr_spec

    def subject(self, subject: str) -> bytes:
        if subject not in self.subjects:
            self.subjects[subject] = header_line("Subject", one_line(subject))
        return self.subjects[subject]

    def slow(
        self,
        variant: Variant,
        email: str,
        name: str | None,
        message_id: str,
        date: datetime,
        links: Links | None,
        *,
        same_boundary: bool,
    ) -> bytes:
        """The email package's bytes; with ``same_boundary`` the boundary the fast path uses."""
        message = build_message(
            self.settings,
            variant,
            email=email,
            name=name,
            message_id=message_id,
            date=date,
            links=links,
        )
        if same_boundary:
            message.set_boundary(boundary_for(message_id))
        return message.as_bytes(policy=policy_for(self.envelope_sender(links), email))
