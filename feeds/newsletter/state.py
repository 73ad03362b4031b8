"""The digest's memory: a SQLite database and a lock file in the state directory.

Exactly-once delivery rests on three rules kept here. A digest is planned in
one transaction (its posts, its rendered variants, one row per recipient)
before anything is sent. Each recipient is marked done in its own committed
transaction right after the server accepted the message. A digest counts as
delivered, and its posts as digested, only when no recipient is left pending.
A run after a crash resumes the unfinished digest with the stored content.

A recipient whose server says "try later" about them alone (mailbox full) is
``deferred``: it does not hold the digest open, so the next digest is planned
on time, and each later run retries it with the stored message until it is
delivered or its attempts or age run out (then ``failed``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from feeds.errors import StateError

SCHEMA = """
CREATE TABLE IF NOT EXISTS digests (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    window_start TEXT NOT NULL,
    window_end TEXT NOT NULL,
    completed_at TEXT
);
CREATE TABLE IF NOT EXISTS digest_posts (
    digest_id INTEGER NOT NULL REFERENCES digests(id),
    url TEXT NOT NULL,
    date TEXT NOT NULL,
    PRIMARY KEY (digest_id, url)
);
CREATE INDEX IF NOT EXISTS digest_posts_url ON digest_posts(url);
CREATE TABLE IF NOT EXISTS variants (
    digest_id INTEGER NOT NULL REFERENCES digests(id),
    variant TEXT NOT NULL,
    subject TEXT NOT NULL,
    html TEXT NOT NULL,
    text TEXT NOT NULL,
    items INTEGER NOT NULL,
    PRIMARY KEY (digest_id, variant)
);
CREATE TABLE IF NOT EXISTS recipients (
    digest_id INTEGER NOT NULL REFERENCES digests(id),
    email TEXT NOT NULL,
    name TEXT,
    variant TEXT NOT NULL,
    message_id TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    error TEXT,
    done_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (digest_id, email)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS parts (
    digest_id INTEGER NOT NULL REFERENCES digests(id),
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (digest_id, key)
);
"""


# What opening a damaged database raises: SQLite's message can quote a name from the file,
# and when that name is not UTF-8, Python fails decoding the message itself.
DAMAGED = (sqlite3.DatabaseError, UnicodeDecodeError)


def unusable_state(path: Path, exc: sqlite3.DatabaseError | UnicodeDecodeError) -> StateError:
    """The one line an operator gets for a damaged database, with what they can do."""
    reason = (
        exc.object.decode("utf-8", "backslashreplace")
        if isinstance(exc, UnicodeDecodeError) and isinstance(exc.object, bytes)
        else str(exc)
    )
    return StateError(
        f"cannot use the state database: {reason}",
        where=str(path),
        hint="restore it from a backup, or move it aside to start afresh; without it "
        "the next digest takes digest.first_window and may repeat the last digest's posts",
    )


@dataclass(frozen=True)
class Variant:
    """One rendered digest, shared by every recipient who chose the same categories."""

    key: str
    subject: str
    html: str
    text: str
    items: int
    layout: str | None = None  # how to assemble html and text from the digest's parts instead


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str | None
    variant: str
    message_id: str


@dataclass(frozen=True)
class Digest:
    id: int
    key: str
    created_at: datetime
    window_start: datetime
    window_end: datetime


class ThreadConnections:
    """One SQLite connection per thread to ``state.sqlite3``, in WAL mode, closed together.

    The digest delivers over several threads and the web service answers from
    a pool, and a connection must not be shared between threads at once; the
    owner may close them all from another thread. ``setup`` runs once on each
    new connection. A damaged file is a StateError, never a traceback.
    """

    def __init__(self, path: Path, setup: Callable[[sqlite3.Connection], None] | None = None):
        self.path = path
        self._setup = setup
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            try:
                db.execute("PRAGMA journal_mode=WAL")
                # In WAL mode, NORMAL makes each commit survive a crash or kill of this process,
                # which exactly-once needs; FULL would add an fsync per recipient, for power loss
                # only. It is a setting of each connection, so every thread's sets it.
                db.execute("PRAGMA synchronous=NORMAL")
                if self._setup is not None:
                    self._setup(db)
            except DAMAGED as exc:
                db.close()
                raise unusable_state(self.path, exc) from None
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection inside BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any error)."""
        db = self.get()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()


class State:
    """The SQLite state database of one state directory.

    Each thread gets its own connection (parallel SMTP connections mark their
    recipients from their own threads); WAL lets them read while one writes,
    and ``BEGIN IMMEDIATE`` makes the writers take turns.
    """

    def __init__(self, state_dir: Path):
        self.path = state_dir / "state.sqlite3"
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(
                f"cannot create the state folder: {exc}", where=str(state_dir)
            ) from None
        self._connections = ThreadConnections(self.path)
        try:
            self.db.executescript(SCHEMA)
            self._add_missing_columns()
        except DAMAGED as exc:
            self.close()
            raise self.unusable(exc) from None

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        return self._connections.get()

    def unusable(self, exc: sqlite3.DatabaseError | UnicodeDecodeError) -> StateError:
        return unusable_state(self.path, exc)

    def _add_missing_columns(self) -> None:
        """Older databases lack recipients' attempts and variants' layout (whole HTML then)."""
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(recipients)")}
        if "attempts" not in columns:
            self.db.execute("ALTER TABLE recipients ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0")
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(variants)")}
        if "layout" not in columns:
            self.db.execute("ALTER TABLE variants ADD COLUMN layout TEXT")

    def close(self) -> None:
        self._connections.close()

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._connections.transaction()

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def unfinished_digest(self) -> Digest | None:
        row = self.db.execute(
            "SELECT id, key, created_at, window_start, window_end FROM digests "
            "WHERE completed_at IS NULL ORDER BY id LIMIT 1"
        ).fetchone()
        return _digest(row) if row else None

    def digested_urls(self, urls: list[str]) -> set[str]:
        """Which of these posts a completed digest already carried."""
        found: set[str] = set()
        for start in range(0, len(urls), 500):
            chunk = urls[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(
                row[0]
                for row in self.db.execute(
                    f"SELECT p.url FROM digest_posts p JOIN digests d ON d.id = p.digest_id "
                    f"WHERE d.completed_at IS NOT NULL AND p.url IN ({marks})",
                    chunk,
                )
            )
        return found

    def plan(
        self,
        *,
        key: str,
        created_at: datetime,
        window: tuple[datetime, datetime],
        posts: list[tuple[str, datetime]],
        variants: list[Variant],
        recipients: list[Recipient],
        parts: dict[str, str] | None = None,
    ) -> Digest:
        """Record a whole digest before the first message leaves."""
        with self.transaction() as db:
            if self.get_meta("first_window_start") is None:
                db.execute(
                    "INSERT INTO meta VALUES ('first_window_start', ?)", (window[0].isoformat(),)
                )
            cursor = db.execute(
                "INSERT INTO digests (key, created_at, window_start, window_end) VALUES (?,?,?,?)",
                (key, created_at.isoformat(), window[0].isoformat(), window[1].isoformat()),
            )
            digest_id = cursor.lastrowid
            db.executemany(
                "INSERT INTO digest_posts VALUES (?,?,?)",
                [(digest_id, url, date.isoformat()) for url, date in posts],
            )
            db.executemany(
                "INSERT INTO variants (digest_id, variant, subject, html, text, items, layout) "
                "VALUES (?,?,?,?,?,?,?)",
                [
                    (digest_id, v.key, v.subject, v.html, v.text, v.items, v.layout)
                    for v in variants
                ],
            )
            db.executemany(
                "INSERT INTO parts VALUES (?,?,?)",
                [(digest_id, key, body) for key, body in (parts or {}).items()],
            )
            db.executemany(
                "INSERT INTO recipients (digest_id, email, name, variant, message_id) "
                "VALUES (?,?,?,?,?)",
                [(digest_id, r.email, r.name, r.variant, r.message_id) for r in recipients],
            )
        return Digest(digest_id, key, created_at, window[0], window[1])

    def variants(self, digest: Digest) -> dict[str, Variant]:
        rows = self.db.execute(
            "SELECT variant, subject, html, text, items, layout FROM variants WHERE digest_id = ?",
            (digest.id,),
        )
        return {row[0]: Variant(*row) for row in rows}

    def parts(self, digest: Digest) -> dict[str, str]:
        """The inlined sections and frames the digest's variants are assembled from."""
        rows = self.db.execute("SELECT key, body FROM parts WHERE digest_id = ?", (digest.id,))
        return dict(rows.fetchall())

    def pending(self, digest: Digest) -> list[Recipient]:
        rows = self.db.execute(
            "SELECT email, name, variant, message_id FROM recipients "
            "WHERE digest_id = ? AND status = 'pending' ORDER BY email",
            (digest.id,),
        )
        return [Recipient(*row) for row in rows]

    def mark(
        self, digest: Digest, email: str, status: str, when: datetime, error: str = ""
    ) -> None:
        """Record one recipient's outcome, durably, before the next message is sent."""
        with self.transaction() as db:
            db.execute(
                "UPDATE recipients SET status = ?, error = ?, done_at = ? "
                "WHERE digest_id = ? AND email = ?",
                (status, error or None, when.isoformat(), digest.id, email),
            )

    def defer(
        self, digest: Digest, email: str, when: datetime, error: str, *, max_attempts: int
    ) -> str:
        """Count one more "try later" for a recipient; 'failed' once the attempts are used up."""
        with self.transaction() as db:
            db.execute(
                "UPDATE recipients SET attempts = attempts + 1, error = ?, done_at = ?, "
                "status = CASE WHEN attempts + 1 >= ? THEN 'failed' ELSE 'deferred' END "
                "WHERE digest_id = ? AND email = ?",
                (error, when.isoformat(), max_attempts, digest.id, email),
            )
            row = db.execute(
                "SELECT status FROM recipients WHERE digest_id = ? AND email = ?",
                (digest.id, email),
            ).fetchone()
        return row[0]

    def deferred(self) -> list[tuple[Digest, list[Recipient]]]:
        """Recipients waiting for a retry, oldest digest first, so each gets them in order."""
        rows = self.db.execute(
            "SELECT d.id, d.key, d.created_at, d.window_start, d.window_end, "
            "r.email, r.name, r.variant, r.message_id FROM recipients r "
            "JOIN digests d ON d.id = r.digest_id WHERE r.status = 'deferred' "
            "ORDER BY d.id, r.email"
        ).fetchall()
        result: dict[int, tuple[Digest, list[Recipient]]] = {}
        for row in rows:
            _, recipients = result.setdefault(row[0], (_digest(row[:5]), []))
            recipients.append(Recipient(*row[5:]))
        return list(result.values())

    def give_up(self, digest: Digest, email: str, when: datetime, reason: str) -> None:
        """Fail a deferred recipient for good, keeping the server's last answer."""
        with self.transaction() as db:
            db.execute(
                "UPDATE recipients SET status = 'failed', done_at = ?, "
                "error = ? || ' (last answer: ' || COALESCE(error, '') || ')' "
                "WHERE digest_id = ? AND email = ? AND status = 'deferred'",
                (when.isoformat(), reason, digest.id, email),
            )

    def count_deferred(self) -> int:
        row = self.db.execute("SELECT COUNT(*) FROM recipients WHERE status = 'deferred'")
        return row.fetchone()[0]

    def counts(self, digest: Digest) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT status, COUNT(*) FROM recipients WHERE digest_id = ? GROUP BY status",
            (digest.id,),
        )
        return dict(rows.fetchall())

    def complete_if_done(self, digest: Digest, when: datetime) -> bool:
        """Close the digest when nobody is pending; only then are its posts 'digested'."""
        with self.transaction() as db:
            pending = db.execute(
                "SELECT COUNT(*) FROM recipients WHERE digest_id = ? AND status = 'pending'",
                (digest.id,),
            ).fetchone()[0]
            if pending:
                return False
            db.execute(
                "UPDATE digests SET completed_at = ? WHERE id = ?", (when.isoformat(), digest.id)
            )
        return True

    def recent_digests(self, email: str, limit: int) -> list[str]:
        """The keys of the last digests handed over for this address, newest first."""
        rows = self.db.execute(
            "SELECT d.key FROM recipients r JOIN digests d ON d.id = r.digest_id "
            "WHERE r.email = ? COLLATE NOCASE AND r.status = 'sent' ORDER BY d.id DESC LIMIT ?",
            (email, limit),
        )
        return [row[0] for row in rows]

    def next_key(self, day: str) -> str:
        """A digest key such as 2022-05-25, or 2022-05-25.2 for a second digest that day."""
        taken = {
            row[0]
            for row in self.db.execute("SELECT key FROM digests WHERE key LIKE ?", (f"{day}%",))
        }
        if day not in taken:
            return day
        number = 2
        while f"{day}.{number}" in taken:
            number += 1
        return f"{day}.{number}"


def _digest(row: tuple) -> Digest:
    return Digest(
        row[0],
        row[1],
        datetime.fromisoformat(row[2]),
        datetime.fromisoformat(row[3]),
        datetime.fromisoformat(row[4]),
    )
