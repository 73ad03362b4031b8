"""Signed links: each refused for its own reason, keys rotate, VERP addresses cannot be forged."""

from __future__ import annotations

from datetime import timedelta

import pytest

from feeds.newsletter.subscribers import Origin, SubscriberStore
from feeds.newsletter.tokens import Claim, Refusal, Tokens, check
from tests.conftest import NOW

TTL = timedelta(hours=72)


@pytest.fixture
def store(tmp_path):
    store = SubscriberStore(tmp_path / "state")
    yield store
    store.close()


@pytest.fixture
def reader(store):
    return store.add("reader@example.com", None, None, Origin("cli"), NOW)[0]


def test_a_token_reads_back_as_its_subscriber_and_version(reader):
    tokens = Tokens(["k1"])
    token = tokens.make("unsubscribe", reader, now=NOW)
    assert tokens.read(token, "unsubscribe", now=NOW, max_age=None) == Claim(reader.id, 1)


def test_a_changed_character_is_tampering(reader):
    tokens = Tokens(["k1"])
    token = tokens.make("confirm", reader, now=NOW)
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert tokens.read(forged, "confirm", now=NOW, max_age=TTL) is Refusal.TAMPERED
    assert tokens.read("", "confirm", now=NOW, max_age=TTL) is Refusal.TAMPERED
    assert Tokens(["other"]).read(token, "confirm", now=NOW, max_age=TTL) is Refusal.TAMPERED


def test_a_token_for_one_purpose_is_refused_for_another(reader):
    tokens = Tokens(["k1"])
    token = tokens.make("confirm", reader, now=NOW)
    assert tokens.read(token, "unsubscribe", now=NOW, max_age=None) is Refusal.WRONG_PURPOSE
    assert tokens.read(token, "preferences", now=NOW, max_age=None) is Refusal.WRONG_PURPOSE


def test_confirm_tokens_expire_with_the_clock_passed_in(reader):
    tokens = Tokens(["k1"])
    token = tokens.make("confirm", reader, now=NOW)
    assert isinstance(tokens.read(token, "confirm", now=NOW + TTL, max_age=TTL), Claim)
    later = NOW + TTL + timedelta(seconds=1)
    assert tokens.read(token, "confirm", now=later, max_age=TTL) is Refusal.EXPIRED
    years = NOW + timedelta(days=3650)
    assert isinstance(tokens.read(token, "confirm", now=years, max_age=None), Claim)


def test_old_keys_still_verify_and_the_first_key_signs(reader):
    old = Tokens(["old"]).make("unsubscribe", reader, now=NOW)
    rotated = Tokens(["new", "old"])
    assert rotated.read(old, "unsubscribe", now=NOW, max_age=None) == Claim(reader.id, 1)
    fresh = rotated.make("unsubscribe", reader, now=NOW)
    assert Tokens(["new"]).read(fresh, "unsubscribe", now=NOW, max_age=None) == Claim(reader.id, 1)
    assert Tokens(["old"]).read(fresh, "unsubscribe", now=NOW, max_age=None) is Refusal.TAMPERED


def test_revoked_and_forgotten_subscribers_are_refused(store, reader):
    claim = Claim(reader.id, reader.token_version)
    assert check(claim, store) == reader
    store.revoke_tokens(reader.id, Origin("cli"), NOW)
    assert check(claim, store) is Refusal.REVOKED
    assert check(Claim(999, 1), store) is Refusal.REVOKED


def test_unsubscribe_tokens_keep_working_after_unsubscribing(store, reader):
    tokens = Tokens(["k1"])
    token = tokens.make("unsubscribe", reader, now=NOW)
    store.unsubscribe(reader.id, Origin("one-click"), NOW)
    claim = tokens.read(token, "unsubscribe", now=NOW + timedelta(days=400), max_age=None)
    assert check(claim, store).status == "unsubscribed"


def test_verp_addresses_name_their_subscriber_and_cannot_be_forged():
    tokens = Tokens(["k1"])
    address = tokens.verp(42, "finews.withounder.com")
    assert address.startswith("bounce+42.") and address.endswith("@finews.withounder.com")
    assert tokens.read_verp(address) == 42
    assert tokens.read_verp(address.upper()) == 42
    assert tokens.read_verp(address.replace("bounce+42.", "bounce+43.")) is None
    assert Tokens(["k2"]).read_verp(address) is None
    assert Tokens(["k2", "k1"]).read_verp(address) == 42
    assert tokens.read_verp("digest@finews.withounder.com") is None
