"""Who gets the digest, and the personal links each message carries.

The subscriber store is the one list. Subscribers written in config.yaml or
``digest.subscribers_file`` are imported into it (source ``config``) on each
run: config keeps their name and categories in step while the reader has not
changed them on the web, and they stop getting mail when the operator takes
them off the list. An unsubscribe, bounce or complaint always wins: an
address in the suppression list gets nothing, whatever any list says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlsplit

from feeds.config import Settings, web_secrets
from feeds.newsletter.subscribers import (
    Origin,
    Subscriber,
    SubscriberStore,
    clean_categories,
    email_key,
)
from feeds.newsletter.tokens import Tokens

CONFIG = Origin("config")


@dataclass(frozen=True)
class Links:
    """What one message needs to let its reader leave or choose: never shared between readers."""

    unsubscribe: str
    preferences: str
    envelope_sender: str


def configured(settings: Settings) -> dict[str, tuple[str | None, tuple[str, ...] | None]]:
    """The config's subscribers by address key: name and categories (None = all)."""
    listed = {}
    for subscriber in settings.subscribers:
        categories = subscriber.categories
        wanted = None if categories == "all" else clean_categories(categories)
        listed[email_key(subscriber.email)] = (subscriber.name, wanted)
    return listed


def sync_config(settings: Settings, store: SubscriberStore, now: datetime) -> None:
    """Bring the config's subscribers into the store; readers' own choices are left alone."""
    for subscriber in settings.subscribers:
        existing = store.by_email(subscriber.email)
        if existing is not None and store.source(existing.id) != "config":
            continue
        categories = None if subscriber.categories == "all" else subscriber.categories
        store.add(subscriber.email, subscriber.name, categories, CONFIG, now)


def still_wanted(
    store: SubscriberStore, email: str, listed: dict[str, tuple] | set[str]
) -> Subscriber | None:
    """The subscriber if a message may go to ``email`` right now, else None.

    Asked again just before each message, so an unsubscribe that lands while
    a digest is going out stops that reader's message.
    """
    subscriber = store.deliverable(email)
    if subscriber is None:
        return None
    if store.source(subscriber.id) == "config" and email_key(email) not in listed:
        return None
    return subscriber


def audience(settings: Settings, store: SubscriberStore) -> list[Subscriber]:
    """Everyone a digest made now should reach: the config's order, then the others by address.

    Reads only; a config subscriber the store has not met yet is included as
    config describes it, so ``--dry-run`` and ``--preview`` change nothing.
    """
    listed = configured(settings)
    readers = {
        key: subscriber
        for key, subscriber, source in store.deliverable_all()
        if source != "config" or key in listed
    }
    for key, (name, categories) in listed.items():
        if key in readers or store.by_email(key) is not None or store.is_suppressed(key):
            continue
        email = next(s.email for s in settings.subscribers if email_key(s.email) == key)
        readers[key] = Subscriber(0, email, name, "active", categories, 1, datetime.min, None, None)
    order = [key for key in listed if key in readers]
    order += sorted(key for key in readers if key not in listed)
    return [readers[key] for key in order]


def mailto_uri(settings: Settings) -> str:
    address = settings.digest.unsubscribe_mailto or settings.sender.addr_spec
    return f"mailto:{quote(address, safe='@')}?subject=unsubscribe"


def personal_links(settings: Settings, tokens: Tokens, subscriber: Subscriber) -> Links:
    """Signed unsubscribe and preferences links and a VERP envelope sender for one reader."""
    assert settings.web is not None
    base = settings.web.url
    domain = settings.sender.domain or urlsplit(settings.site.url).hostname or "localhost"
    return Links(
        unsubscribe=f"{base}/unsubscribe/{tokens.make('unsubscribe', subscriber)}",
        preferences=f"{base}/preferences/{tokens.make('preferences', subscriber)}",
        envelope_sender=tokens.verp(subscriber.id, domain),
    )


def link_maker(settings: Settings):
    """A function giving each subscriber their Links, or None without a web section."""
    if settings.web is None:
        return None
    tokens = Tokens(web_secrets(settings))
    return lambda subscriber: personal_links(settings, tokens, subscriber)
