"""``feeds subscribers``: the operator's door to the subscriber store (the web is the readers').

Both doors call the same store methods, so a rule such as "nothing
re-activates an address that left" holds whichever door is used.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from feeds.config.files import MAX_SUBSCRIBERS_FILE_BYTES
from feeds.errors import AddressError, FeedsError
from feeds.newsletter.subscribers import STATUSES, Origin, Subscriber, SubscriberStore
from feeds.safefile import Unreadable, read_named_text
from feeds.site.post import Post

COLUMNS = ("email", "name", "categories", "status", "created_at", "confirmed_at", "unsubscribed_at")
SUPPRESSING = ("unsubscribed", "bounced", "complained")
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection):
# names and even addresses come from an anonymous web form.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def categories_text(categories: tuple[str, ...] | None) -> str:
    return "all" if categories is None else " ".join(categories)


def parse_categories(text: str | None) -> list[str] | None:
    """'all' or nothing is every category; else names split on spaces, commas, semicolons."""
    names = (text or "").replace(",", " ").replace(";", " ").split()
    return None if not names or names == ["all"] else names


def categories_without_posts(names: Iterable[str], posts: Iterable[Post]) -> list[str]:
    """The names no published post is in: mistyped, most likely, as category names are
    matched exactly."""
    present = {name for post in posts for name in post.categories}
    return [name for name in names if name not in present]


def describe(subscriber: Subscriber) -> str:
    """One line of ``feeds subscribers list``: tab-separated, for people and for cut/awk."""
    return "\t".join(
        (
            subscriber.email,
            subscriber.status,
            categories_text(subscriber.categories),
            subscriber.name or "",
        )
    )


def cell(text: str) -> str:
    """A CSV cell a spreadsheet shows as text: a leading formula character gets a ``'``."""
    return "'" + text if text.startswith(FORMULA_START) else text


def uncell(text: str | None) -> str | None:
    """What ``cell`` wrote, as it was: an export imports back unchanged."""
    if text and text.startswith("'") and text[1:].startswith(FORMULA_START):
        return text[1:]
    return text


def export_csv(subscribers: Iterable[Subscriber]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for s in subscribers:
        times = (s.created_at, s.confirmed_at, s.unsubscribed_at)
        writer.writerow(
            (
                cell(s.email),
                cell(s.name or ""),
                cell(categories_text(s.categories) if s.categories != () else ""),
                s.status,
                *(t.isoformat() if t else "" for t in times),
            )
        )
    return out.getvalue()


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    kept: int = 0  # left unsubscribed, bounced or complained whatever the file said
    suppressed: int = 0  # rows whose status says the address left
    problems: list[str] = field(default_factory=list)


def import_csv(store: SubscriberStore, path: Path, now: datetime) -> ImportReport:
    """Add the file's subscribers; rows with a leaving status suppress their address.

    A UTF-8 byte order mark (Excel's "CSV UTF-8") is accepted. A bad row is
    reported with its number and never stops the others.
    """
    try:
        text = read_named_text(path, MAX_SUBSCRIBERS_FILE_BYTES, "the subscribers file's limit")
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    except Unreadable as exc:
        raise FeedsError(str(exc), where=str(path)) from None
    except csv.Error as exc:
        raise FeedsError(f"cannot read: {exc}", where=str(path)) from None
    if rows and "email" not in rows[0]:
        raise FeedsError("expected a header row with an 'email' column", where=str(path))
    report = ImportReport()
    origin = Origin("import")
    for number, row in enumerate(rows, start=2):
        try:
            import_row(store, row, origin, now, report)
        except (AddressError, ValueError) as exc:
            report.problems.append(f"{path}: row {number}: {exc}")
    return report


def import_row(
    store: SubscriberStore, row: dict, origin: Origin, now: datetime, report: ImportReport
) -> None:
    row = {key: uncell(value) if isinstance(value, str) else value for key, value in row.items()}
    email = (row.get("email") or "").strip()
    status = (row.get("status") or "active").strip().lower()
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    if status == "pending":
        raise ValueError(f"{email} never confirmed; not imported")
    if status in SUPPRESSING:
        store.suppress(email, status, origin, now)
        report.suppressed += 1
        return
    before = store.by_email(email)
    subscriber, changed = store.add(
        email, row.get("name") or None, parse_categories(row.get("categories")), origin, now
    )
    if subscriber is None or subscriber.status != "active":
        report.kept += 1
    elif before is None:
        report.added += 1
    elif changed:
        report.updated += 1
    else:
        report.unchanged += 1
