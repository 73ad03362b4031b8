"""The digest's SQLite state: opening databases made by earlier versions."""

from __future__ import annotations

import sqlite3

from feeds.newsletter.state import State

RECIPIENTS_BEFORE_DEFERRALS = """
CREATE TABLE recipients (
    digest_id INTEGER NOT NULL, email TEXT NOT NULL, name TEXT, variant TEXT NOT NULL,
    message_id TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', error TEXT, done_at TEXT,
    PRIMARY KEY (digest_id, email)
);
INSERT INTO recipients (digest_id, email, variant, message_id) VALUES (1, 'a@example.com', 'v', 'm');
"""


def test_a_database_from_before_deferrals_gains_the_attempts_column(tmp_path):
    with sqlite3.connect(tmp_path / "state.sqlite3") as db:
        db.executescript(RECIPIENTS_BEFORE_DEFERRALS)
    state = State(tmp_path)
    rows = state.db.execute("SELECT email, status, attempts FROM recipients").fetchall()
    state.close()
    assert rows == [("a@example.com", "pending", 0)]
