"""The subscriber store: double opt-in, consent log, suppressions that outlive everything."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta

import pytest

from feeds.errors import AddressError
from feeds.newsletter.subscribers import (
    Origin,
    SubscriberStore,
    email_hash,
    normalise,
    truncate_ip,
    truncate_user_agent,
)
from tests.conftest import NOW

WEB = Origin("web", ip="203.0.113.77", user_agent="Mozilla/5.0 " + "x" * 500)
DAY = timedelta(hours=24)


@pytest.fixture
def store(tmp_path):
    store = SubscriberStore(tmp_path / "state")
    yield store
    store.close()


def subscribe(store, email="Reader@Example.COM", categories=("kejiribao",), now=NOW):
    return store.request(email, "读者", categories, WEB, now, confirm_interval=DAY)


def test_a_request_makes_a_pending_subscriber_and_asks_for_one_mail(store):
    subscriber, send = subscribe(store)
    assert send is True
    assert (subscriber.email, subscriber.status, subscriber.categories) == (
        "Reader@example.com",
        "pending",
        ("kejiribao",),
    )
    assert subscriber.token_version == 1 and subscriber.confirmed_at is None


def test_at_most_one_confirmation_mail_per_interval(store):
    assert subscribe(store)[1] is True
    assert subscribe(store, "reader@example.com", now=NOW + timedelta(hours=23))[1] is False
    assert subscribe(store, now=NOW + timedelta(hours=24))[1] is True


def test_confirm_activates_with_what_was_asked(store):
    subscriber, _ = subscribe(store)
    confirmed = store.confirm(subscriber.id, 1, Origin("web"), NOW + timedelta(hours=1))
    assert confirmed.status == "active"
    assert confirmed.confirmed_at == NOW + timedelta(hours=1)
    assert store.deliverable("READER@example.com") == confirmed


def test_confirm_with_an_old_token_version_changes_nothing(store):
    subscriber, _ = subscribe(store)
    store.revoke_tokens(subscriber.id, Origin("cli"), NOW)
    assert store.confirm(subscriber.id, 1, Origin("web"), NOW) is None
    assert store.get(subscriber.id).status == "pending"


def test_a_request_for_an_active_address_keeps_nothing_a_confirmation_could_apply(store):
    subscriber, _ = subscribe(store)
    store.confirm(subscriber.id, 1, Origin("web"), NOW)
    again, send = subscribe(store, categories=("emnews",), now=NOW + 2 * DAY)
    assert send is True  # the caller mails the reader their preferences link
    assert (again.status, again.categories) == ("active", ("kejiribao",))
    assert store.as_requested(subscriber.id) == again
    after = store.confirm(subscriber.id, 1, Origin("web"), NOW + 2 * DAY)
    assert after.categories == ("kejiribao",)


def test_a_returning_readers_request_is_what_the_confirmation_describes(store):
    subscriber, _ = subscribe(store)
    store.confirm(subscriber.id, 1, Origin("web"), NOW)
    store.unsubscribe(subscriber.id, Origin("web"), NOW)
    store.request("reader@example.com", "新", ["emnews"], WEB, NOW + DAY, confirm_interval=DAY)
    wish = store.as_requested(subscriber.id)
    assert (wish.status, wish.name, wish.categories) == ("unsubscribed", "新", ("emnews",))


def test_a_confirmation_mail_that_failed_does_not_count_against_the_interval(store):
    subscriber, _ = subscribe(store)
    store.mail_failed(subscriber.id, NOW - DAY)  # an older attempt's failure changes nothing
    assert subscribe(store, now=NOW + timedelta(hours=1))[1] is False
    store.mail_failed(subscriber.id, NOW)
    assert subscribe(store, now=NOW + timedelta(hours=1))[1] is True


def test_unsubscribe_is_idempotent_suppresses_and_keeps_the_token_version(store):
    subscriber, _ = subscribe(store)
    store.confirm(subscriber.id, 1, Origin("web"), NOW)
    first = store.unsubscribe(subscriber.id, Origin("one-click"), NOW + DAY)
    second = store.unsubscribe(subscriber.id, Origin("one-click"), NOW + 2 * DAY)
    assert first == second
    assert (second.status, second.unsubscribed_at, second.token_version) == (
        "unsubscribed",
        NOW + DAY,
        1,
    )
    assert store.is_suppressed("reader@example.com")
    assert store.deliverable("reader@example.com") is None
    events = [e.event for e in store.consent_log(subscriber.id)]
    assert events == ["subscribe", "confirm", "unsubscribe"]


def test_an_old_confirmation_link_never_undoes_a_later_unsubscribe(store):
    subscriber, _ = subscribe(store)
    store.confirm(subscriber.id, 1, Origin("web"), NOW)
    store.unsubscribe(subscriber.id, Origin("web"), NOW + DAY)
    assert store.confirm(subscriber.id, 1, Origin("web"), NOW + DAY).status == "unsubscribed"


def test_a_reader_who_unsubscribed_may_subscribe_again_by_confirming(store):
    subscriber, _ = subscribe(store)
    store.confirm(subscriber.id, 1, Origin("web"), NOW)
    store.unsubscribe(subscriber.id, Origin("web"), NOW + DAY)
    _, send = subscribe(store, now=NOW + 2 * DAY)
    assert send is True and store.get(subscriber.id).status == "unsubscribed"
    assert store.confirm(subscriber.id, 1, Origin("web"), NOW + 2 * DAY).status == "active"
    assert not store.is_suppressed("reader@example.com")


def test_bounced_and_complained_addresses_get_no_confirmation_mail(store):
    for status, mark in (("bounced", store.mark_bounced), ("complained", store.mark_complained)):
        email = f"{status}@example.com"
        subscriber, _ = subscribe(store, email)
        store.confirm(subscriber.id, 1, Origin("web"), NOW)
        mark(subscriber.id, Origin("bounce"), NOW)
        again, send = subscribe(store, email, now=NOW + 3 * DAY)
        assert (again.status, send) == (status, False)
        assert store.suppression(email) == status


def test_operator_lists_never_reactivate_a_reader_who_left(store):
    subscriber, _ = subscribe(store)
    store.confirm(subscriber.id, 1, Origin("web"), NOW)
    store.unsubscribe(subscriber.id, Origin("web"), NOW)
    again, changed = store.add("reader@example.com", None, None, Origin("import"), NOW)
    assert (again.status, changed) == ("unsubscribed", False)


def test_add_makes_an_active_subscriber_and_reports_changes(store):
    added, changed = store.add("new@example.com", "新", ["b", "a", "a"], Origin("cli"), NOW)
    assert (added.status, added.categories, changed) == ("active", ("a", "b"), True)
    assert store.add("new@example.com", "新", ["a", "b"], Origin("cli"), NOW)[1] is False


def test_suppression_outlives_a_forgotten_subscriber(store):
    subscriber, _ = store.add("gone@example.com", None, None, Origin("cli"), NOW)
    assert store.forget(subscriber.id, NOW)
    assert store.get(subscriber.id) is None
    assert store.is_suppressed("GONE@example.com")


def test_an_import_after_forget_recreates_no_record_of_the_erased_person(store):
    subscriber, _ = store.add("gone@example.com", "Gone", None, Origin("cli"), NOW)
    store.forget(subscriber.id, NOW)
    again, changed = store.add("gone@example.com", "Gone", None, Origin("import"), NOW)
    assert (again, changed) == (None, False)
    assert store.by_email("gone@example.com") is None and store.all() == []


def test_a_forgotten_subscribers_id_is_never_given_to_the_next_one(store):
    first, _ = store.add("first@example.com", None, None, Origin("cli"), NOW)
    gone, _ = store.add("gone@example.com", None, None, Origin("cli"), NOW)
    store.forget(gone.id, NOW)
    stranger, _ = subscribe(store, "stranger@example.com")
    assert stranger.id not in (first.id, gone.id)
    assert [e.event for e in store.consent_log(gone.id)] == ["import", "forget"]


def test_ids_are_not_reused_in_a_database_made_before_autoincrement(tmp_path):
    (tmp_path / "state").mkdir()
    with sqlite3.connect(tmp_path / "state" / "state.sqlite3") as db:
        db.execute(  # the subscribers table as the first release created it
            "CREATE TABLE subscribers (id INTEGER PRIMARY KEY, email TEXT NOT NULL, "
            "email_key TEXT NOT NULL UNIQUE, name TEXT, status TEXT NOT NULL, categories TEXT, "
            "token_version INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL, "
            "confirmed_at TEXT, unsubscribed_at TEXT, source TEXT NOT NULL, "
            "requested_name TEXT, requested_at TEXT, requested_categories TEXT, "
            "confirm_sent_at TEXT)"
        )
    db.close()
    store = SubscriberStore(tmp_path / "state")
    try:
        gone, _ = store.add("gone@example.com", None, None, Origin("cli"), NOW)
        store.forget(gone.id, NOW)
        imported, _ = store.add("next@example.com", None, None, Origin("import"), NOW)
        requested, _ = subscribe(store, "stranger@example.com")
        store.forget(requested.id, NOW)
        store.add_many([("bulk@example.com", None, None)], Origin("import"), NOW)
        bulk = store.by_email("bulk@example.com")
        assert gone.id < imported.id < requested.id < bulk.id
    finally:
        store.close()


def test_revoking_links_is_in_the_consent_log(store):
    subscriber, _ = store.add("a@example.com", None, None, Origin("cli"), NOW)
    store.revoke_tokens(subscriber.id, Origin("cli"), NOW + DAY)
    assert [(e.event, e.at) for e in store.consent_log(subscriber.id)] == [
        ("import", NOW),
        ("revoke", NOW + DAY),
    ]


def test_an_unsubscribe_never_softens_a_bounce_or_a_complaint(store):
    for status, mark in (("bounced", store.mark_bounced), ("complained", store.mark_complained)):
        subscriber, _ = store.add(f"{status}@example.com", None, None, Origin("cli"), NOW)
        mark(subscriber.id, Origin("bounce"), NOW)
        after = store.unsubscribe(subscriber.id, Origin("one-click"), NOW + DAY)
        assert (after.status, after.unsubscribed_at) == (status, NOW)
        assert store.suppression(f"{status}@example.com") == status
    complained = store.by_email("complained@example.com")
    assert store.mark_bounced(complained.id, Origin("bounce"), NOW + DAY).status == "complained"
    bounced = store.by_email("bounced@example.com")
    assert store.mark_complained(bounced.id, Origin("bounce"), NOW + DAY).status == "complained"


def test_consent_log_records_truncated_ip_and_user_agent_and_is_append_only(store, tmp_path):
    subscriber, _ = subscribe(store)
    event = store.consent_log(subscriber.id)[0]
    assert (event.event, event.source, event.ip, event.categories) == (
        "subscribe",
        "web",
        "203.0.113.0/24",
        ("kejiribao",),
    )
    assert len(event.user_agent) == 200
    db = sqlite3.connect(tmp_path / "state" / "state.sqlite3")
    for statement in ("UPDATE consent_log SET event = 'x'", "DELETE FROM consent_log"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(statement)
    db.close()


def test_ip_and_user_agent_truncation():
    assert truncate_ip("2001:db8:1234:5678::1") == "2001:db8:1234::/48"
    assert truncate_ip("not an ip") is None
    assert truncate_user_agent("a\r\nb") == "a  b"


def test_addresses_are_normalised_and_bad_ones_refused(store):
    assert normalise(" user@EXAMPLE.com ") == "user@example.com"
    assert email_hash("User@Example.com") == email_hash("user@example.com")
    for bad in ("no-at-sign", "a@b@c", "reader@example.com\r\nBcc: x@y.z"):
        with pytest.raises(AddressError):
            subscribe(store, bad)
    assert store.all() == []


def test_update_changes_name_and_categories_only(store):
    subscriber, _ = store.add("a@example.com", "A", None, Origin("cli"), NOW)
    changed = store.update(subscriber.id, "B", ["x"], Origin("web"), NOW)
    assert (changed.name, changed.categories, changed.status) == ("B", ("x",), "active")
    assert store.update(999, "B", None, Origin("web"), NOW) is None


def test_several_threads_share_one_store(store):
    errors = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                store.add(f"t{n}-{i}@example.com", None, None, Origin("cli"), NOW)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(store.all()) == 80


def test_a_bulk_import_adds_new_readers_in_one_go_and_leaves_known_and_suppressed_ones(store):
    store.add("known@example.com", "旧", ["a"], Origin("cli"), NOW)
    store.suppress("gone@example.com", "unsubscribed", Origin("cli"), NOW)
    people = [
        ("New@Example.com", "新", ["b", "a", "b"]),
        ("known@example.com", "别的", None),
        ("gone@example.com", None, None),
        ("new@example.com", None, None),
    ]
    assert store.add_many(people, Origin("import"), NOW) == 1
    new = store.by_email("new@example.com")
    assert (new.email, new.name, new.status, new.categories) == (
        "New@example.com",
        "新",
        "active",
        ("a", "b"),
    )
    assert [e.event for e in store.consent_log(new.id)] == ["import"]
    assert store.by_email("known@example.com").name == "旧"
    assert store.by_email("gone@example.com") is None


def test_deliverable_all_answers_as_deliverable_does_for_each_address(store):
    store.add_many([(f"r{n}@example.com", None, None) for n in range(4)], Origin("import"), NOW)
    store.unsubscribe(store.by_email("r1@example.com").id, Origin("one-click"), NOW)
    store.suppress("r2@example.com", "bounced", Origin("bounce"), NOW)
    found = [(key, s.email, source) for key, s, source in store.deliverable_all()]
    assert found == [
        ("r0@example.com", "r0@example.com", "import"),
        ("r3@example.com", "r3@example.com", "import"),
    ]
    assert [s.email for _, s, _ in store.deliverable_all()] == [
        e for e in (f"r{n}@example.com" for n in range(4)) if store.deliverable(e)
    ]
