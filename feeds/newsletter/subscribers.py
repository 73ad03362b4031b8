"""The readers: who is subscribed to what, how they consented, and who must never get mail again.

Three tables in the digest's state database. ``subscribers`` holds each
normalised address with its status and categories. ``consent_log`` is
append-only (triggers refuse UPDATE and DELETE) and names subscribers by id
only, so forgetting a reader leaves a log that proves what happened without
naming anyone. ``suppressions`` is keyed by a hash of the address and outlives
the subscriber: an unsubscribe, bounce or complaint wins over any list, import
or config file.

Every method is one short transaction on a connection of the calling thread,
so the web service's threads, ``feeds digest`` and ``feeds bounces`` can share
the database; WAL lets readers go on while one of them writes.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import sqlite3
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from feeds.errors import AddressError
from feeds.newsletter.state import ThreadConnections

Status = Literal["pending", "active", "unsubscribed", "bounced", "complained"]
STATUSES: tuple[Status, ...] = ("pending", "active", "unsubscribed", "bounced", "complained")
USER_AGENT_LIMIT = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

SCHEMA = """
CREATE TABLE IF NOT EXISTS subscribers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL,
    email_key TEXT NOT NULL UNIQUE,
    name TEXT,
    status TEXT NOT NULL,
    categories TEXT,
    token_version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    confirmed_at TEXT,
    unsubscribed_at TEXT,
    source TEXT NOT NULL,
    requested_name TEXT,
    requested_at TEXT,
    requested_categories TEXT,
    confirm_sent_at TEXT
);
CREATE TABLE IF NOT EXISTS consent_log (
    id INTEGER PRIMARY KEY,
    subscriber_id INTEGER NOT NULL,
    event TEXT NOT NULL,
    at TEXT NOT NULL,
    source TEXT NOT NULL,
    ip TEXT,
    user_agent TEXT,
    categories TEXT
);
CREATE INDEX IF NOT EXISTS consent_log_subscriber ON consent_log(subscriber_id);
CREATE TRIGGER IF NOT EXISTS consent_log_no_update BEFORE UPDATE ON consent_log
BEGIN SELECT RAISE(ABORT, 'the consent log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS consent_log_no_delete BEFORE DELETE ON consent_log
BEGIN SELECT RAISE(ABORT, 'the consent log is append-only'); END;
CREATE TABLE IF NOT EXISTS suppressions (
    email_hash TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bounce_mail (
    fingerprint TEXT PRIMARY KEY,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bounces (
    id INTEGER PRIMARY KEY,
    subscriber_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    digest TEXT NOT NULL,
    at TEXT NOT NULL,
    UNIQUE (subscriber_id, digest, kind)
);
"""

# A stronger reason is never replaced by a weaker one: a one-click unsubscribe
# from a reader whose mail bounced or who complained keeps that reason.
STRENGTH = {"unsubscribed": 1, "bounced": 2, "complained": 3}

_COLUMNS = (
    "id, email, name, status, categories, token_version, created_at, confirmed_at, unsubscribed_at"
)


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    name: str | None
    status: Status
    categories: tuple[str, ...] | None  # None = all
    token_version: int
    created_at: datetime
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None

    def wants(self, category: str) -> bool:
        return self.categories is None or category in self.categories


@dataclass(frozen=True)
class Origin:
    source: str  # "web" | "import" | "config" | "one-click" | "bounce" | "cli"
    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class ConsentEvent:
    subscriber_id: int
    event: str
    at: datetime
    source: str
    ip: str | None
    user_agent: str | None
    categories: tuple[str, ...] | None


def normalise(email: str) -> str:
    """The address as email-validator normalises it (no DNS look-up); AddressError otherwise."""
    from email_validator import EmailNotValidError, validate_email

    if _CONTROL.search(email):
        raise AddressError("not a valid email address: it contains control characters")
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise AddressError(f"not a valid email address: {exc}") from None


def email_key(email: str) -> str:
    """Addresses that differ only in case are one mailbox for every provider that matters."""
    return normalise(email).lower()


def email_hash(email: str) -> str:
    return key_hash(email_key(email))


def key_hash(key: str) -> str:
    """The suppression key of a stored ``email_key``: no second validation of an address
    the store already normalised (one-click unsubscribes come in bursts)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def truncate_ip(ip: str | None) -> str | None:
    """Enough to tell networks apart in a dispute, not enough to name a household."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def truncate_user_agent(user_agent: str | None) -> str | None:
    if not user_agent:
        return None
    return _CONTROL.sub(" ", user_agent)[:USER_AGENT_LIMIT]


def clean_categories(categories: Iterable[str] | None) -> tuple[str, ...] | None:
    """Sorted, unique, without control characters; None (all) stays None."""
    if categories is None:
        return None
    return tuple(sorted({c.strip() for c in categories if c.strip() and not _CONTROL.search(c)}))


def clean_name(name: str | None) -> str | None:
    if name is None:
        return None
    name = " ".join(_CONTROL.sub(" ", name).split())[:200]
    return name or None


def _dump(categories: tuple[str, ...] | None) -> str | None:
    return None if categories is None else json.dumps(list(categories), ensure_ascii=False)


def _load(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(json.loads(text))


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _next_id(db: sqlite3.Connection) -> int:
    """An id no subscriber ever had, not even a forgotten one.

    Without this SQLite hands out the largest rowid + 1 again after a delete,
    and a stranger would inherit the erased reader's links, bounces and log.
    New databases also say AUTOINCREMENT; older ones are covered by the log,
    where every id ever used stays.
    """
    row = db.execute(
        "SELECT MAX((SELECT COALESCE(MAX(id), 0) FROM subscribers), "
        "(SELECT COALESCE(MAX(subscriber_id), 0) FROM consent_log))"
    ).fetchone()
    return row[0] + 1


def _subscriber(row: tuple) -> Subscriber:
    return Subscriber(
        id=row[0],
        email=row[1],
        name=row[2],
        status=row[3],
        categories=_load(row[4]),
        token_version=row[5],
        created_at=datetime.fromisoformat(row[6]),
        confirmed_at=_time(row[7]),
        unsubscribed_at=_time(row[8]),
    )


class SubscriberStore:
    """The subscriber tables of one state directory, usable from several threads and processes."""

    def __init__(self, state_dir: Path):
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / "state.sqlite3"
        self._connections = ThreadConnections(self.path, lambda db: db.executescript(SCHEMA))
        self._db()

    def _db(self) -> sqlite3.Connection:
        return self._connections.get()

    def close(self) -> None:
        self._connections.close()

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._connections.transaction()

    # --- reading -------------------------------------------------------------------------------

    def get(self, subscriber_id: int) -> Subscriber | None:
        row = (
            self._db()
            .execute(f"SELECT {_COLUMNS} FROM subscribers WHERE id = ?", (subscriber_id,))
            .fetchone()
        )
        return _subscriber(row) if row else None

    def by_email(self, email: str) -> Subscriber | None:
        try:
            key = email_key(email)
        except AddressError:
            return None
        row = (
            self._db()
            .execute(f"SELECT {_COLUMNS} FROM subscribers WHERE email_key = ?", (key,))
            .fetchone()
        )
        return _subscriber(row) if row else None

    def all(self) -> list[Subscriber]:
        rows = self._db().execute(f"SELECT {_COLUMNS} FROM subscribers ORDER BY email_key")
        return [_subscriber(row) for row in rows]

    def deliverable_all(self) -> list[tuple[str, Subscriber, str]]:
        """Every subscriber a message may go to now, with its address key and source.

        What ``deliverable`` answers for one address, in two queries for all:
        a digest to 100,000 readers cannot ask 100,000 times.
        """
        db = self._db()
        suppressed = {row[0] for row in db.execute("SELECT email_hash FROM suppressions")}
        rows = db.execute(
            f"SELECT {_COLUMNS}, email_key, source FROM subscribers "
            "WHERE status = 'active' ORDER BY email_key"
        )
        return [
            (row[9], _subscriber(row), row[10])
            for row in rows
            if key_hash(row[9]) not in suppressed
        ]

    def is_suppressed(self, email: str) -> bool:
        return self.suppression(email) is not None

    def suppression(self, email: str) -> str | None:
        """Why this address gets no mail ('unsubscribed', 'bounced', 'complained'), or None."""
        try:
            key = email_hash(email)
        except AddressError:
            return None
        row = (
            self._db()
            .execute("SELECT reason FROM suppressions WHERE email_hash = ?", (key,))
            .fetchone()
        )
        return row[0] if row else None

    def deliverable(self, email: str) -> Subscriber | None:
        """The subscriber if a message may go to this address now: active and not suppressed."""
        subscriber = self.by_email(email)
        if subscriber is None or subscriber.status != "active" or self.is_suppressed(email):
            return None
        return subscriber

    def consent_log(self, subscriber_id: int) -> list[ConsentEvent]:
        rows = self._db().execute(
            "SELECT subscriber_id, event, at, source, ip, user_agent, categories "
            "FROM consent_log WHERE subscriber_id = ? ORDER BY id",
            (subscriber_id,),
        )
        return [
            ConsentEvent(r[0], r[1], datetime.fromisoformat(r[2]), r[3], r[4], r[5], _load(r[6]))
            for r in rows
        ]

    def source(self, subscriber_id: int) -> str | None:
        row = (
            self._db()
            .execute("SELECT source FROM subscribers WHERE id = ?", (subscriber_id,))
            .fetchone()
        )
        return row[0] if row else None

    # --- changing --------------------------------------------------------------------------------

    def request(
        self,
        email: str,
        name: str | None,
        categories: Iterable[str] | None,
        origin: Origin,
        now: datetime,
        *,
        confirm_interval: timedelta,
    ) -> tuple[Subscriber | None, bool]:
        """Record a wish to subscribe; say whether a confirmation mail should go out now.

        Nothing the reader sees may depend on the answer (the web page is the
        same whatever the address's state), so the caller only decides whether
        to send. What was asked is kept aside and applied on confirmation. A
        request for an active address keeps nothing: anybody can type anybody's
        address, and the reader changes their choice on their preferences page
        (the caller mails them its link instead of a confirmation). Addresses
        that bounced or complained get no mail; an address that unsubscribed
        may ask again, and only its own confirmation lifts the suppression.
        """
        address = normalise(email)
        wanted = clean_categories(categories)
        name = clean_name(name)
        with self._transaction() as db:
            row = db.execute(
                f"SELECT {_COLUMNS}, confirm_sent_at FROM subscribers WHERE email_key = ?",
                (address.lower(),),
            ).fetchone()
            if row is None:
                subscriber_id = _next_id(db)
                db.execute(
                    "INSERT INTO subscribers (id, email, email_key, name, status, categories, "
                    "created_at, source) VALUES (?,?,?,?,'pending',?,?,?)",
                    (
                        subscriber_id,
                        address,
                        address.lower(),
                        name,
                        _dump(wanted),
                        now.isoformat(),
                        origin.source,
                    ),
                )
                last_sent = None
            else:
                subscriber_id, last_sent = row[0], _time(row[-1])
                if row[3] == "pending":
                    db.execute(
                        "UPDATE subscribers SET name = ?, categories = ? WHERE id = ?",
                        (name, _dump(wanted), subscriber_id),
                    )
            if row is None or row[3] != "active":
                db.execute(
                    "UPDATE subscribers SET requested_at = ?, requested_name = ?, "
                    "requested_categories = ? WHERE id = ?",
                    (now.isoformat(), name, _dump(wanted), subscriber_id),
                )
            self._log(db, subscriber_id, "subscribe", origin, now, wanted)
            reason = db.execute(
                "SELECT reason FROM suppressions WHERE email_hash = ?",
                (email_hash(address),),
            ).fetchone()
            blocked = reason is not None and reason[0] in ("bounced", "complained")
            recent = last_sent is not None and now - last_sent < confirm_interval
            send = not blocked and not recent
            if send:
                db.execute(
                    "UPDATE subscribers SET confirm_sent_at = ? WHERE id = ?",
                    (now.isoformat(), subscriber_id),
                )
        return self.get(subscriber_id), send

    def as_requested(self, subscriber_id: int) -> Subscriber | None:
        """The subscriber as confirming their open request would make them: what the
        confirmation mail must describe. Without an open request, as they are."""
        subscriber = self.get(subscriber_id)
        row = (
            self._db()
            .execute(
                "SELECT requested_at, requested_name, requested_categories FROM subscribers "
                "WHERE id = ?",
                (subscriber_id,),
            )
            .fetchone()
        )
        if subscriber is None or row is None or row[0] is None:
            return subscriber
        return replace(subscriber, name=row[1], categories=_load(row[2]))

    def mail_failed(self, subscriber_id: int, sent_at: datetime) -> None:
        """Forget that a confirmation mail went out at ``sent_at``: it did not, and the
        reader asking again must not wait ``confirm_interval`` for nothing."""
        with self._transaction() as db:
            db.execute(
                "UPDATE subscribers SET confirm_sent_at = NULL "
                "WHERE id = ? AND confirm_sent_at = ?",
                (subscriber_id, sent_at.isoformat()),
            )

    def confirm(
        self, subscriber_id: int, token_version: int, origin: Origin, now: datetime
    ) -> Subscriber | None:
        """Activate the subscriber with what their open request asked for.

        The reader proved they hold the mailbox, so this lifts their own
        suppression too, whatever its reason. Without an open request (already
        confirmed, or unsubscribed since the mail was sent) nothing changes:
        an old confirmation link never undoes a later unsubscribe.
        """
        with self._transaction() as db:
            row = db.execute(
                "SELECT token_version, requested_at, requested_name, requested_categories, email "
                "FROM subscribers WHERE id = ?",
                (subscriber_id,),
            ).fetchone()
            if row is None or row[0] != token_version:
                return None
            _, requested_at, name, categories, email = row
            if requested_at is not None:
                db.execute(
                    "UPDATE subscribers SET status = 'active', name = ?, categories = ?, "
                    "confirmed_at = ?, unsubscribed_at = NULL, requested_at = NULL, "
                    "requested_name = NULL, requested_categories = NULL, source = ? WHERE id = ?",
                    (name, categories, now.isoformat(), origin.source, subscriber_id),
                )
                db.execute("DELETE FROM suppressions WHERE email_hash = ?", (email_hash(email),))
                self._log(db, subscriber_id, "confirm", origin, now, _load(categories))
        return self.get(subscriber_id)

    def update(
        self,
        subscriber_id: int,
        name: str | None,
        categories: Iterable[str] | None,
        origin: Origin,
        now: datetime,
    ) -> Subscriber | None:
        """Change a subscriber's name and categories; the status stays as it is."""
        wanted = clean_categories(categories)
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE subscribers SET name = ?, categories = ?, source = ? WHERE id = ?",
                (clean_name(name), _dump(wanted), origin.source, subscriber_id),
            )
            if not cursor.rowcount:
                return None
            self._log(db, subscriber_id, "change", origin, now, wanted)
        return self.get(subscriber_id)

    def unsubscribe(self, subscriber_id: int, origin: Origin, now: datetime) -> Subscriber | None:
        """Stop all mail to this subscriber. Repeating it changes nothing and logs nothing.

        The token version stays: the unsubscribe link in every mail already sent
        keeps working, and keeps answering that the reader is unsubscribed.
        """
        return self._suppress(subscriber_id, "unsubscribed", "unsubscribe", origin, now)

    def mark_bounced(self, subscriber_id: int, origin: Origin, now: datetime) -> Subscriber | None:
        return self._suppress(subscriber_id, "bounced", "bounce", origin, now)

    def mark_complained(
        self, subscriber_id: int, origin: Origin, now: datetime
    ) -> Subscriber | None:
        return self._suppress(subscriber_id, "complained", "complaint", origin, now)

    def _suppress(
        self, subscriber_id: int, status: Status, event: str, origin: Origin, now: datetime
    ) -> Subscriber | None:
        with self._transaction() as db:
            row = db.execute(
                "SELECT email_key, status, categories FROM subscribers WHERE id = ?",
                (subscriber_id,),
            ).fetchone()
            if row is None:
                return None
            key, current, categories = row
            if STRENGTH.get(current, 0) < STRENGTH[status]:
                db.execute(
                    "UPDATE subscribers SET status = ?, unsubscribed_at = ?, requested_at = NULL, "
                    "requested_name = NULL, requested_categories = NULL WHERE id = ?",
                    (status, now.isoformat(), subscriber_id),
                )
                self._log(db, subscriber_id, event, origin, now, _load(categories))
            db.execute(
                "INSERT INTO suppressions VALUES (?,?,?,?) ON CONFLICT(email_hash) DO UPDATE "
                "SET reason = excluded.reason, at = excluded.at, source = excluded.source "
                "WHERE suppressions.reason = 'unsubscribed' AND excluded.reason = 'bounced' "
                "OR suppressions.reason != 'complained' AND excluded.reason = 'complained'",
                (key_hash(key), status, now.isoformat(), origin.source),
            )
        return self.get(subscriber_id)

    def add(
        self,
        email: str,
        name: str | None,
        categories: Iterable[str] | None,
        origin: Origin,
        now: datetime,
    ) -> tuple[Subscriber | None, bool]:
        """Add an active subscriber on the operator's word (config, import, command line).

        Returns the subscriber and whether it was added or changed. An address
        that unsubscribed, bounced or complained stays as it is: no list the
        operator holds outranks the reader's own choice. A suppressed address
        without a record (forgotten, or from an opt-out list) gets none: the
        answer is (None, False), so an old list never brings an erased person back.
        """
        address = normalise(email)
        wanted = clean_categories(categories)
        name = clean_name(name)
        with self._transaction() as db:
            row = db.execute(
                "SELECT id, status, name, categories FROM subscribers WHERE email_key = ?",
                (address.lower(),),
            ).fetchone()
            suppressed = db.execute(
                "SELECT 1 FROM suppressions WHERE email_hash = ?", (email_hash(address),)
            ).fetchone()
            if row is None and suppressed:
                return None, False
            if row is None:
                subscriber_id = _next_id(db)
                db.execute(
                    "INSERT INTO subscribers (id, email, email_key, name, status, categories, "
                    "created_at, confirmed_at, source) VALUES (?,?,?,?,'active',?,?,?,?)",
                    (
                        subscriber_id,
                        address,
                        address.lower(),
                        name,
                        _dump(wanted),
                        now.isoformat(),
                        now.isoformat(),
                        origin.source,
                    ),
                )
                self._log(db, subscriber_id, "import", origin, now, wanted)
                changed = True
            else:
                subscriber_id = row[0]
                changed = False
                if row[1] in ("active", "pending") and not suppressed:
                    changed = row[1] != "active" or (row[2], row[3]) != (name, _dump(wanted))
                    if changed:
                        db.execute(
                            "UPDATE subscribers SET status = 'active', name = ?, categories = ?, "
                            "confirmed_at = COALESCE(confirmed_at, ?), source = ? WHERE id = ?",
                            (name, _dump(wanted), now.isoformat(), origin.source, subscriber_id),
                        )
                        self._log(db, subscriber_id, "import", origin, now, wanted)
        subscriber = self.get(subscriber_id)
        assert subscriber is not None
        return subscriber, changed

    def add_many(
        self,
        people: Iterable[tuple[str, str | None, Iterable[str] | None]],
        origin: Origin,
        now: datetime,
    ) -> int:
        """Add new active subscribers (email, name, categories) in one transaction; how many.

        For a bulk import: an address already in the store or suppressed is
        left as it is, as ``add`` would leave a reader's own choice.
        """
        with self._transaction() as db:
            known = {row[0] for row in db.execute("SELECT email_key FROM subscribers")}
            suppressed = {row[0] for row in db.execute("SELECT email_hash FROM suppressions")}
            next_id = _next_id(db)
            added = 0
            for email, name, categories in people:
                address = normalise(email)
                key = address.lower()
                if key in known or key_hash(key) in suppressed:
                    continue
                known.add(key)
                wanted = clean_categories(categories)
                db.execute(
                    "INSERT INTO subscribers (id, email, email_key, name, status, categories, "
                    "created_at, confirmed_at, source) VALUES (?,?,?,?,'active',?,?,?,?)",
                    (
                        next_id + added,
                        address,
                        key,
                        clean_name(name),
                        _dump(wanted),
                        now.isoformat(),
                        now.isoformat(),
                        origin.source,
                    ),
                )
                self._log(db, next_id + added, "import", origin, now, wanted)
                added += 1
        return added

    def suppress(self, email: str, reason: Status, origin: Origin, now: datetime) -> None:
        """Suppress an address, subscriber or not (an imported opt-out list, a bounce)."""
        subscriber = self.by_email(email)
        if subscriber is not None:
            event = {"unsubscribed": "unsubscribe", "bounced": "bounce"}.get(reason, "complaint")
            self._suppress(subscriber.id, reason, event, origin, now)
            return
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO suppressions VALUES (?,?,?,?)",
                (email_hash(email), reason, now.isoformat(), origin.source),
            )

    def seen_mail(self, fingerprint: str) -> bool:
        """Whether this bounce mail was handled by an earlier run."""
        row = (
            self._db()
            .execute("SELECT 1 FROM bounce_mail WHERE fingerprint = ?", (fingerprint,))
            .fetchone()
        )
        return row is not None

    def record_mail(self, fingerprint: str, now: datetime) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO bounce_mail VALUES (?, ?)", (fingerprint, now.isoformat())
            )

    def forget(self, subscriber_id: int, now: datetime) -> bool:
        """Delete the subscriber's row (erasure); the suppression and the log stay, nameless.

        The log's "forget" event proves the erasure was done, and keeps the id
        taken: ids are never given out again (see ``_next_id``).
        """
        with self._transaction() as db:
            row = db.execute(
                "SELECT email FROM subscribers WHERE id = ?", (subscriber_id,)
            ).fetchone()
            if row is None:
                return False
            db.execute(
                "INSERT OR IGNORE INTO suppressions VALUES (?, 'unsubscribed', ?, 'cli')",
                (email_hash(row[0]), now.isoformat()),
            )
            db.execute("DELETE FROM subscribers WHERE id = ?", (subscriber_id,))
            self._log(db, subscriber_id, "forget", Origin("cli"), now, None)
        return True

    def revoke_tokens(self, subscriber_id: int, origin: Origin, now: datetime) -> Subscriber | None:
        """Make every link already mailed to this subscriber useless (a leaked link)."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE subscribers SET token_version = token_version + 1 WHERE id = ?",
                (subscriber_id,),
            )
            if cursor.rowcount:
                self._log(db, subscriber_id, "revoke", origin, now, None)
        return self.get(subscriber_id)

    def record_bounce(self, subscriber_id: int, kind: str, digest: str, now: datetime) -> None:
        """Remember that one digest bounced for this subscriber (once per digest and kind)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO bounces (subscriber_id, kind, digest, at) VALUES (?,?,?,?)",
                (subscriber_id, kind, digest, now.isoformat()),
            )

    def bounced_digests(self, subscriber_id: int, kind: str = "soft") -> set[str]:
        rows = self._db().execute(
            "SELECT digest FROM bounces WHERE subscriber_id = ? AND kind = ?",
            (subscriber_id, kind),
        )
        return {row[0] for row in rows}

    @staticmethod
    def _log(
        db: sqlite3.Connection,
        subscriber_id: int,
        event: str,
        origin: Origin,
        now: datetime,
        categories: tuple[str, ...] | None,
    ) -> None:
        db.execute(
            "INSERT INTO consent_log (subscriber_id, event, at, source, ip, user_agent, "
            "categories) VALUES (?,?,?,?,?,?,?)",
            (
                subscriber_id,
                event,
                now.isoformat(),
                origin.source,
                truncate_ip(origin.ip),
                truncate_user_agent(origin.user_agent),
                _dump(categories),
            ),
        )
