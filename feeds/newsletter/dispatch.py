"""``feeds digest``: plan today's digest, deliver it to each subscriber exactly once, record it.

A run first finishes any digest a previous run left unfinished (crash, kill,
SMTP outage), with the content stored then; only a run with nothing
unfinished plans a new one. New posts are the posts no delivered digest has
carried yet, so a post whose file arrives late is in the next digest instead
of being lost between two windows.

A recipient the server keeps telling "try later" (mailbox full) is deferred
instead of holding everyone else: the digest completes, and each later run
first retries the deferred recipients with their stored message, oldest
digest first, until ``digest.deferred_attempts`` or ``deferred_max_age`` runs out.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from feeds.config import Settings, format_duration
from feeds.errors import ConfigError
from feeds.locking import exclusive_lock
from feeds.newsletter.audience import audience, configured, link_maker, still_wanted, sync_config
from feeds.newsletter.deliver import (
    PermanentFailure,
    RecipientDeferred,
    TransientFailure,
    Transport,
    open_transports,
)
from feeds.newsletter.digest import (
    Composer,
    Item,
    categories_with_news,
    group_by_category,
    message_id,
    once_each,
    overlaps,
    personalize,
    source_link,
    unique_stories,
    unsubscribe_link,
    variant_key,
)
from feeds.newsletter.parts import Assembler, whole
from feeds.newsletter.state import Digest, Recipient, State, Variant
from feeds.newsletter.subscribers import SubscriberStore
from feeds.newsletter.wire import Wire
from feeds.output.build import current_posts, render_post

log = logging.getLogger(__name__)


@dataclass
class DigestReport:
    key: str | None = None
    sent: int = 0
    skipped: int = 0  # subscribers with nothing new in their categories
    failed: int = 0  # refused for good by the server
    deferred: int = 0  # the server said "try later" about them; later runs retry them
    pending: int = 0  # not delivered yet; the next run retries them
    posts: int = 0
    resumed: bool = False
    stopped: bool = False
    error: str | None = None  # why delivery stopped early
    lines: list[str] = field(default_factory=list)  # dry-run listing

    @property
    def ok(self) -> bool:
        """Deferred recipients do not count against a run: later runs deal with them."""
        return not self.failed and not self.pending and not self.error

    @property
    def summary(self) -> str:
        resumed = ", resumed" if self.resumed else ""
        return (
            f"digest {self.key}{resumed}: {self.sent} sent, {self.skipped} skipped, "
            f"{self.failed} failed, {self.deferred} deferred, {self.pending} left for the next run"
        )


@dataclass(frozen=True)
class Plan:
    key: str
    window: tuple[datetime, datetime]
    posts: list[tuple[str, datetime]]
    variants: dict[str, Variant]
    recipients: list[Recipient]
    skipped: int
    parts: dict[str, str]  # what the variants are assembled from


def candidate_posts(settings: Settings, state: State, now: datetime, since: datetime | None):
    """The posts a digest made now should carry, and the window they come from."""
    if since is not None:
        start = since
    elif state.get_meta("first_window_start") is None:
        start = now - settings.digest.first_window
    else:
        first = datetime.fromisoformat(state.get_meta("first_window_start") or "")
        start = max(first, now - settings.digest.lookback)
    everything = current_posts(settings, now=now)
    posts = [post for post in everything if start < post.date <= now]
    if since is None:
        done = state.digested_urls([post.url for post in posts])
        posts = [post for post in posts if post.url not in done]
    return posts, (start, now)


def to_items(settings: Settings, posts) -> list[Item]:
    items = []
    for post in posts:
        rendered = render_post(post, settings.feeds.summary_length, problems=[])
        items.append(Item(post, rendered.summary, source_link(rendered.html, settings.site.url)))
    return items


def make_plan(
    settings: Settings,
    state: State,
    *,
    now: datetime,
    since: datetime | None = None,
    only: str | None = None,
    key: str | None = None,
) -> Plan:
    """Choose, group and render everything a digest needs, before anything is sent."""
    posts, window = candidate_posts(settings, state, now, since)
    by_category = group_by_category(unique_stories(to_items(settings, posts)))
    day = now.astimezone(settings.site.timezone).strftime("%Y-%m-%d")
    key = key or state.next_key(day)
    domain = urlsplit(settings.site.url).hostname or "localhost"
    composer = Composer(settings, settings.templates_dir)
    store = SubscriberStore(settings.state_dir)
    try:
        readers = audience(settings, store)
    finally:
        store.close()
    subscribers = [s for s in readers if only is None or s.email.lower() == only.lower()]
    if only is not None and not subscribers:
        raise ConfigError(f"--to {only}: not an active subscriber")
    wanted: dict[str, list[str]] = {}
    recipients: list[Recipient] = []
    skipped = 0
    shared = overlaps(by_category)
    for subscriber in subscribers:
        categories = categories_with_news(subscriber, by_category)
        if not categories and not settings.digest.send_empty:
            skipped += 1
            continue
        name = variant_key(list(once_each(categories, by_category, shared)))
        wanted.setdefault(name, categories)
        recipients.append(
            Recipient(
                subscriber.email, subscriber.name, name, message_id(key, subscriber.email, domain)
            )
        )
    assembler = Assembler(composer)
    return Plan(
        key=key,
        window=window,
        posts=[(post.url, post.date) for post in posts],
        variants=assembler.render_all(wanted, by_category, day),
        recipients=recipients,
        skipped=skipped,
        parts=assembler.parts,
    )


def preview(
    settings: Settings, output: Path, *, now: datetime, since: datetime | None, to: str | None
) -> DigestReport:
    """Write the inlined HTML a subscriber (or a reader of every category) would get.

    The folder must exist, as for a shell redirection: a typo should not create folders.
    """
    if not output.parent.is_dir():
        raise ConfigError(f"{output.parent}: folder not found", where="--preview")
    state = State(settings.state_dir)
    try:
        if to:
            plan = make_plan(settings, state, now=now, since=since, only=to, key="preview")
            variants = [whole(variant, plan.parts) for variant in plan.variants.values()]
            html = variants[0].html if variants else "<p>Nothing new for this subscriber.</p>"
            count = len(plan.posts)
        else:
            posts, _ = candidate_posts(settings, state, now, since)
            by_category = group_by_category(unique_stories(to_items(settings, posts)))
            day = now.astimezone(settings.site.timezone).strftime("%Y-%m-%d")
            composer = Composer(settings, settings.templates_dir)
            html = composer.render(sorted(by_category), by_category, day).html
            count = len(posts)
    except sqlite3.DatabaseError as exc:
        raise state.unusable(exc) from None
    finally:
        state.close()
    email = to or "reader@example.com"
    html = personalize(html, email, unsubscribe_link(settings, email), html=True)
    try:
        output.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror}", where="--preview") from None
    return DigestReport(key="preview", posts=count)


def dry_run(settings: Settings, *, now: datetime, since: datetime | None) -> DigestReport:
    """What a run now would send: the deferred recipients due a retry, then the digest's."""
    state = State(settings.state_dir)
    try:
        retries = []
        for digest, recipients in state.deferred():
            if now - digest.created_at < settings.digest.deferred_max_age:
                retries += listing(recipients, state.variants(digest), " (retry)")
        unfinished = state.unfinished_digest()
        if unfinished is not None:
            pending = state.pending(unfinished)
            lines = listing(pending, state.variants(unfinished))
            return DigestReport(
                key=unfinished.key, pending=len(pending), resumed=True, lines=retries + lines
            )
        plan = make_plan(settings, state, now=now, since=since, key="dry-run")
    except sqlite3.DatabaseError as exc:
        raise state.unusable(exc) from None
    finally:
        state.close()
    lines = retries + listing(plan.recipients, plan.variants)
    return DigestReport(key=None, skipped=plan.skipped, posts=len(plan.posts), lines=lines)


def listing(recipients: list[Recipient], variants: dict[str, Variant], note: str = "") -> list[str]:
    """One dry-run line per recipient: address, subject, item count."""
    return [
        f"{r.email}\t{variants[r.variant].subject}\t{variants[r.variant].items} items{note}"
        for r in recipients
    ]


def send_digest(
    settings: Settings,
    *,
    now: datetime,
    since: datetime | None = None,
    clock: Callable[[], datetime] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    transports: Sequence[Transport] | None = None,
) -> DigestReport:
    """Deliver the unfinished digest, or plan and deliver a new one. Holds the digest lock.

    ``transports`` (tests) replace the configured ones: one per parallel connection.

    Recipients deferred by earlier runs are retried first; a server that is
    down stops the run before the digest's own recipients are tried.
    """
    clock = clock or (lambda: now)
    with exclusive_lock(settings.state_dir, "digest.lock", "feeds digest"):
        state = State(settings.state_dir)
        try:
            report = DigestReport()
            store = SubscriberStore(settings.state_dir)
            try:
                sync_config(settings, store, now)
            finally:
                store.close()
            digest = state.unfinished_digest()
            if digest is None:
                plan = make_plan(settings, state, now=now, since=since)
                report.skipped, report.posts = plan.skipped, len(plan.posts)
                if plan.recipients:
                    digest = state.plan(
                        key=plan.key,
                        created_at=now,
                        window=plan.window,
                        posts=plan.posts,
                        variants=list(plan.variants.values()),
                        recipients=plan.recipients,
                        parts=plan.parts,
                    )
            else:
                report.resumed = True
            deferred = state.deferred()
            if digest is None and not deferred:
                return report
            report.key = digest.key if digest else deferred[-1][0].key
            going = retry_deferred(
                settings, state, deferred, report, clock, should_stop, transports
            )
            if digest is not None:
                if going:
                    deliver_pending(settings, state, digest, report, clock, should_stop, transports)
                state.complete_if_done(digest, clock())
                report.pending = len(state.pending(digest))
            report.deferred = state.count_deferred()
            return report
        except sqlite3.DatabaseError as exc:
            raise state.unusable(exc) from None
        finally:
            state.close()


def retry_deferred(
    settings: Settings,
    state: State,
    deferred: list[tuple[Digest, list[Recipient]]],
    report: DigestReport,
    clock: Callable[[], datetime],
    should_stop: Callable[[], bool],
    transports: Sequence[Transport] | None,
) -> bool:
    """Give deferred recipients another try, or give up on those too old; False to stop the run."""
    max_age = settings.digest.deferred_max_age
    for digest, recipients in deferred:
        if clock() - digest.created_at >= max_age:
            reason = f"still deferred {format_duration(max_age)} after the digest was planned"
            for recipient in recipients:
                log.error("%s: digest %s: %s", recipient.email, digest.key, reason)
                state.give_up(digest, recipient.email, clock(), reason)
            report.failed += len(recipients)
            continue
        if not deliver_pending(
            settings, state, digest, report, clock, should_stop, transports, recipients
        ):
            return False
    return True


def deliver_pending(
    settings: Settings,
    state: State,
    digest: Digest,
    report: DigestReport,
    clock: Callable[[], datetime],
    should_stop: Callable[[], bool],
    transports: Sequence[Transport] | None,
    recipients: list[Recipient] | None = None,
) -> bool:
    """Send the digest to its pending recipients (or these); False when the run must stop.

    Each transport is one connection with its own thread (the calling thread
    drives the first), all taking the next recipient from one list. A worker
    marks its recipient in its own committed transaction right after the
    server accepted, so a kill leaves at most one unrecorded message per
    connection. A server that stays down, a stop request or an error in any
    worker stops them all before their next recipient.
    """
    pending = state.pending(digest) if recipients is None else recipients
    transports = (
        list(transports)
        if transports
        else open_transports(settings.digest.transport, settings.digest.smtp, settings.state_dir)
    )
    delivery = _Delivery(settings, state, digest, report, clock, should_stop, pending)
    workers = [
        threading.Thread(target=delivery.work, args=(transport,), name=f"smtp-{number}")
        for number, transport in enumerate(transports[1 : len(pending)], start=2)
    ]
    try:
        for worker in workers:
            worker.start()
        delivery.work(transports[0])
    finally:
        for worker in workers:
            worker.join()
        for transport in transports[len(workers) + 1 :]:
            transport.close()
        delivery.store.close()
    if delivery.crashed is not None:
        raise delivery.crashed
    return not delivery.halt.is_set()


class _Delivery:
    """One digest's pending recipients, shared by the connections sending them."""

    def __init__(
        self,
        settings: Settings,
        state: State,
        digest: Digest,
        report: DigestReport,
        clock: Callable[[], datetime],
        should_stop: Callable[[], bool],
        pending: list[Recipient],
    ):
        self.settings, self.state, self.digest, self.report = settings, state, digest, report
        self.clock, self.should_stop = clock, should_stop
        self.pending = iter(pending)
        self.variants = state.variants(digest)
        self.parts = state.parts(digest)
        self.listed = configured(settings)
        self.links_for = link_maker(settings)
        self.store = SubscriberStore(settings.state_dir)
        self.wire = Wire(settings, digest.created_at)
        self.lock = threading.Lock()  # guards the list and the report
        self.halt = threading.Event()
        self.crashed: BaseException | None = None

    def next_recipient(self) -> Recipient | None:
        with self.lock:
            return None if self.halt.is_set() else next(self.pending, None)

    def stop(self, **report: object) -> None:
        with self.lock:
            for name, value in report.items():
                setattr(self.report, name, value)
            self.halt.set()

    def count(self, name: str) -> None:
        with self.lock:
            setattr(self.report, name, getattr(self.report, name) + 1)

    def work(self, transport: Transport) -> None:
        try:
            while (recipient := self.next_recipient()) is not None:
                if self.should_stop():
                    self.stop(stopped=True)
                    return
                self.deliver(transport, recipient)
        except BaseException as exc:  # DeliveryError, or a bug: the run stops and says why
            with self.lock:
                self.crashed = self.crashed or exc
                self.halt.set()
        finally:
            transport.close()

    def deliver(self, transport: Transport, recipient: Recipient) -> None:
        settings, state, digest = self.settings, self.state, self.digest
        subscriber = still_wanted(self.store, recipient.email, self.listed)
        if subscriber is None:  # unsubscribed, bounced or taken off the list since planning
            state.mark(digest, recipient.email, "dropped", self.clock())
            return
        links = self.links_for(subscriber) if self.links_for else None
        message = self.wire.message(
            whole(self.variants[recipient.variant], self.parts),
            email=recipient.email,
            name=recipient.name,
            message_id=recipient.message_id,
            date=digest.created_at,
            links=links,
        )
        sender = self.wire.envelope_sender(links)
        try:
            transport.send(message, sender, recipient.email)
        except PermanentFailure as exc:
            log.error("%s: refused: %s", recipient.email, exc)
            state.mark(digest, recipient.email, "failed", self.clock(), str(exc))
            self.count("failed")
            return
        except RecipientDeferred as exc:
            with self.lock:
                defer(settings, state, digest, recipient, self.report, self.clock(), str(exc))
            return
        except TransientFailure as exc:
            self.stop(error=f"{recipient.email}: not delivered: {exc}")
            return
        state.mark(digest, recipient.email, "sent", self.clock())
        self.count("sent")


def defer(
    settings: Settings,
    state: State,
    digest: Digest,
    recipient: Recipient,
    report: DigestReport,
    when: datetime,
    error: str,
) -> None:
    """Leave one recipient for a later run, or fail them once their attempts are used up."""
    limit = settings.digest.deferred_attempts
    status = state.defer(digest, recipient.email, when, error, max_attempts=limit)
    if status == "failed":
        log.error("%s: still deferred after %d runs: %s", recipient.email, limit, error)
        report.failed += 1
    else:
        log.warning("%s: deferred to the next run: %s", recipient.email, error)
