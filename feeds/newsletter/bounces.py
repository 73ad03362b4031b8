"""``feeds bounces``: read the bounce mailbox; stop mailing addresses that refuse or reject mail.

Delivery status notifications (RFC 3464) are read field by field; bounces in
other shapes go through flufl.bounce. Abuse reports (ARF, RFC 5965) are
complaints. A hard bounce or a complaint suppresses the address at once; a
soft bounce (mailbox full, server busy) only when 3 of the subscriber's last
5 digests bounced. Auto-replies ("out of office") are not bounces.

With a ``web`` section every digest leaves with a VERP envelope sender
``bounce+<id>.<mac>@domain``; then only a bounce naming a VERP address with a
valid MAC counts, so nobody can unsubscribe a reader by mailing us a forged
bounce. Without it, the address the bounce names is used.
"""

from __future__ import annotations

import email
import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.header import Header, decode_header
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses
from pathlib import Path
from typing import Literal

from flufl.bounce import all_failures

from feeds.config import Settings, web_secrets
from feeds.errors import ConfigError
from feeds.newsletter.state import State
from feeds.newsletter.subscribers import Origin, SubscriberStore
from feeds.newsletter.tokens import Tokens
from feeds.safefile import Unreadable, read_regular

log = logging.getLogger(__name__)


class _NoDetectorTraceback(logging.Filter):
    """flufl.bounce logs a traceback before it re-raises; classify reports the mail in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Exception in detector")


logging.getLogger("flufl.bounce").addFilter(_NoDetectorTraceback())

Kind = Literal["hard", "soft", "complaint", "auto-reply", "other"]
# A digest is at most about 100 KB; a bounce quoting it whole stays far below this.
MAX_MAIL_BYTES = 2_000_000
SOFT_LIMIT, SOFT_WINDOW = 3, 5
BOUNCE = Origin("bounce")
_DIGEST_ID = re.compile(r"<digest\.(\d{4}-\d{2}-\d{2}(?:\.\d+)?)\.[0-9a-f]{16}@")
_VERP_ANYWHERE = re.compile(r"bounce\+[0-9]+\.[A-Za-z0-9]+@[A-Za-z0-9.-]+")
_ADDRESS_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "To", "Return-Path")


@dataclass(frozen=True)
class Finding:
    """What one mail in the bounce mailbox says."""

    kind: Kind
    addresses: tuple[str, ...] = ()  # the failed recipients it names
    verp: tuple[str, ...] = ()  # VERP addresses found anywhere in it
    digest: str | None = None  # the digest it is about, from the returned Message-ID
    problem: str | None = None  # why a mail that could not be read is ignored


@dataclass
class BounceReport:
    read: int = 0
    hard: int = 0
    soft: int = 0
    complaints: int = 0
    auto_replies: int = 0
    ignored: int = 0  # forged, unidentified or not a bounce
    suppressed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.read} mails read: {self.hard} hard bounces, {self.soft} soft, "
            f"{self.complaints} complaints, {self.auto_replies} auto-replies, "
            f"{self.ignored} ignored; {len(self.suppressed)} addresses suppressed"
        )


def is_auto_reply(message: Message) -> bool:
    """RFC 3834 and the headers vacation programs have used before it."""
    auto = str(message.get("Auto-Submitted", "no")).strip().lower()
    precedence = str(message.get("Precedence", "")).strip().lower()
    return (
        auto.startswith("auto-replied")
        or any(message.get(h) for h in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"))
        or precedence == "auto_reply"
    )


def _report_type(message: Message) -> str | None:
    if message.get_content_type() != "multipart/report":
        return None
    return str(message.get_param("report-type", "")).lower()


def _dsn_recipients(message: Message) -> list[tuple[str, str, str]]:
    """(address, action, status) for each recipient block of a delivery-status part."""
    found = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        blocks = payload if isinstance(payload, list) else []
        for block in blocks[1:]:  # the first block is about the message, the rest per recipient
            recipient = _text(block.get("Final-Recipient") or block.get("Original-Recipient"))
            address = recipient.split(";", 1)[-1].strip().strip("<>")
            action = str(block.get("Action", "")).strip().lower()
            status = str(block.get("Status", "")).strip()
            if address:
                found.append((address, action, status))
    return found


def _text(value: str | Header | None) -> str:
    """A header's text. compat32 returns a header with 8-bit bytes as a Header, whose str()
    turns them into U+FFFD; an address in UTF-8 (RFC 6531) must survive to match a reader."""
    if isinstance(value, Header):
        parts = decode_header(value)
        return "".join(
            p.decode("utf-8", "replace") if isinstance(p, bytes) else p for p, _ in parts
        )
    return value or ""


def _dsn_kind(recipients: list[tuple[str, str, str]]) -> Kind:
    """Failed with 5.x.x is hard, except a full mailbox (x.2.2), which may empty; 4.x.x is soft."""
    kinds = set()
    for _, action, status in recipients:
        if action != "failed":
            continue  # delayed, delivered, relayed, expanded: nothing failed yet
        if status.startswith("5.") and not status.startswith("5.2.2"):
            kinds.add("hard")
        else:
            kinds.add("soft")
    return "hard" if "hard" in kinds else "soft" if kinds else "other"


def _complaint_addresses(message: Message) -> list[str]:
    addresses = []
    for part in message.walk():
        if part.get_content_type() != "message/feedback-report":
            continue
        payload = part.get_payload()
        blocks = payload if isinstance(payload, list) else [part]
        for block in blocks:
            for name in ("Original-Rcpt-To", "Removal-Recipient"):
                addresses += [a for _, a in getaddresses(block.get_all(name, []) or []) if a]
    return addresses


def classify(raw: bytes) -> Finding:
    """Read one mail of the bounce mailbox."""
    message = email.message_from_bytes(raw, policy=compat32)
    text = raw.decode("utf-8", "replace")
    verp = tuple(dict.fromkeys(_VERP_ANYWHERE.findall(text)))
    digest_match = _DIGEST_ID.search(text)
    digest = digest_match.group(1) if digest_match else None
    report = _report_type(message)
    if report == "feedback-report":
        return Finding("complaint", tuple(_complaint_addresses(message)), verp, digest)
    if report == "delivery-status":
        recipients = _dsn_recipients(message)
        kind = _dsn_kind(recipients)
        return Finding(kind, tuple(a for a, _, _ in recipients), verp, digest)
    if is_auto_reply(message):
        return Finding("auto-reply", (), verp, digest)
    try:
        temporary, permanent = all_failures(message)
    except Exception as exc:
        # flufl.bounce's heuristic detectors assume a well-formed mail (yale takes the first
        # From address of a mail without one; sina calls .lower() on a Header) and raise on
        # hostile input. A third-party detector must never stop a run, so any exception it
        # raises makes this mail an ignored one; our own code above is not wrapped.
        log.debug("flufl.bounce raised on this mail", exc_info=True)
        problem = f"a bounce detector (flufl.bounce) raised {type(exc).__name__}"
        return Finding("other", (), verp, digest, problem)
    if permanent or temporary:
        kind: Kind = "hard" if permanent else "soft"
        failed = permanent or temporary
        addresses = tuple(a.decode("utf-8", "replace") for a in sorted(failed))
        return Finding(kind, addresses, verp, digest)
    return Finding("other", (), verp, digest)


class BounceProcessor:
    """Applies findings to the store: who is suppressed, who has one more soft bounce."""

    def __init__(self, settings: Settings, store: SubscriberStore, state: State):
        self.store, self.state = store, state
        self.tokens = Tokens(web_secrets(settings)) if settings.web else None

    def subscribers(self, finding: Finding) -> list[int] | None:
        """The subscribers a finding names; None when it must be ignored (forged, unknown)."""
        if self.tokens is not None:
            ids = {self.tokens.read_verp(address) for address in finding.verp}
            ids.discard(None)
            if not ids:
                if finding.verp:
                    log.warning("ignored a bounce with a forged VERP address: %s", finding.verp[0])
                return None
            return sorted(i for i in ids if i is not None)
        found = [self.store.by_email(address) for address in finding.addresses]
        ids = sorted({s.id for s in found if s is not None})
        return ids or None

    def apply(self, finding: Finding, now: datetime, report: BounceReport) -> None:
        if finding.kind == "auto-reply":
            report.auto_replies += 1
            return
        ids = self.subscribers(finding) if finding.kind != "other" else None
        if not ids:
            report.ignored += 1
            return
        for subscriber_id in ids:
            self._apply_one(subscriber_id, finding, now, report)

    def _apply_one(
        self, subscriber_id: int, finding: Finding, now: datetime, report: BounceReport
    ) -> None:
        subscriber = self.store.get(subscriber_id)
        if subscriber is None:
            report.ignored += 1
            return
        if finding.kind == "complaint":
            report.complaints += 1
            self._suppressed(self.store.mark_complained(subscriber_id, BOUNCE, now), report)
        elif finding.kind == "hard":
            report.hard += 1
            self._suppressed(self.store.mark_bounced(subscriber_id, BOUNCE, now), report)
        else:
            report.soft += 1
            recent = self.state.recent_digests(subscriber.email, SOFT_WINDOW)
            digest = finding.digest or (recent[0] if recent else now.date().isoformat())
            self.store.record_bounce(subscriber_id, "soft", digest, now)
            bounced = self.store.bounced_digests(subscriber_id) & set(recent)
            if len(bounced) >= SOFT_LIMIT:
                self._suppressed(self.store.mark_bounced(subscriber_id, BOUNCE, now), report)

    @staticmethod
    def _suppressed(subscriber, report: BounceReport) -> None:
        if subscriber is not None and subscriber.email not in report.suppressed:
            report.suppressed.append(subscriber.email)


def process_bounces(settings: Settings, maildir: Path | None, now: datetime) -> BounceReport:
    """Read every mail of the bounce Maildir not read before, and act on it."""
    folder = maildir or settings.bounces_maildir
    if folder is None:
        raise ConfigError("bounces.maildir: not set (or give --maildir DIR)")
    if not (folder / "new").is_dir() or not (folder / "cur").is_dir():
        raise ConfigError("not a Maildir (expected new/ and cur/ in it)", where=str(folder))
    store = SubscriberStore(settings.state_dir)
    state = State(settings.state_dir)
    report = BounceReport()
    try:
        processor = BounceProcessor(settings, store, state)
        for path in _mail_files(folder):
            raw = _read_mail(path)
            if raw is None:  # nothing to fingerprint: it is ignored again next run
                report.read += 1
                report.ignored += 1
                continue
            fingerprint = hashlib.sha256(raw).hexdigest()
            if store.seen_mail(fingerprint):
                continue
            report.read += 1
            finding = classify(raw)
            if finding.problem:
                log.warning("%s: ignored, %s", path, finding.problem)
            processor.apply(finding, now, report)
            store.record_mail(fingerprint, now)
    finally:
        state.close()
        store.close()
    return report


def _mail_files(folder: Path) -> list[Path]:
    """The files of new/ and cur/ in key order, as mailbox.Maildir lists them.

    Listed by hand, not through mailbox.Maildir, so that each mail is read by
    path and one that cannot be read is skipped, not a run stopped or blocked.
    """
    entries = [
        entry for sub in ("new", "cur") for entry in (folder / sub).iterdir() if not entry.is_dir()
    ]
    return sorted(entries, key=lambda entry: (entry.name.split(":", 1)[0], entry.parent.name))


def _read_mail(path: Path) -> bytes | None:
    """The file's bytes; None, after a warning, for what is not a readable regular file or is
    larger than any bounce of ours (a FIFO would block the run, a huge file fill memory)."""
    try:
        return read_regular(path, MAX_MAIL_BYTES, "the bounce size limit")
    except Unreadable as exc:
        log.warning("%s: ignored, %s", path, exc)
        return None
