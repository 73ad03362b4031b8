"""``feeds bounces``: DSNs, complaints and auto-replies the tests write themselves, read from a Maildir."""

from __future__ import annotations

import logging
import mailbox
import os
import random
import subprocess
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from feeds.newsletter.bounces import Finding, classify, process_bounces
from feeds.newsletter.state import Recipient, State, Variant
from feeds.newsletter.subscribers import Origin, SubscriberStore
from feeds.newsletter.tokens import Tokens
from tests.conftest import NOW, examples, feeds_args

DOMAIN = "finews.withounder.com"


def dsn(
    to: str, recipient: str, status: str, action: str = "failed", digest: str = "2026-11-28"
) -> str:
    return f"""\
From: Mail Delivery System <MAILER-DAEMON@mx.example.com>
To: {to}
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com

Final-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {status} mailbox problem

--B
Content-Type: text/rfc822-headers

From: digest@{DOMAIN}
To: {recipient}
Subject: daily
Message-ID: <digest.{digest}.0123456789abcdef@{DOMAIN}>

--B--
"""


def auto_reply(to: str) -> bytes:
    return f"""\
From: reader@example.com
To: {to}
Subject: 自动回复: 测试站 每日摘要
Auto-Submitted: auto-replied
Content-Type: text/plain; charset=utf-8

I am out of the office until Monday.
""".encode()


def complaint(to: str, verp: str, recipient: str) -> str:
    return f"""\
From: feedback@mailbox-provider.example
To: {to}
Subject: Abuse report
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="F"

--F
Content-Type: text/plain

This is an email abuse report.

--F
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <{verp}>
Original-Rcpt-To: <{recipient}>

--F
Content-Type: message/rfc822

Return-Path: <{verp}>
From: digest@{DOMAIN}
To: {recipient}
Subject: daily
Message-ID: <digest.2026-11-28.0123456789abcdef@{DOMAIN}>

body
--F--
"""


@pytest.fixture
def env(site, make_settings, tmp_path, monkeypatch):
    """A web-enabled site with three active readers and a bounce Maildir."""
    monkeypatch.setenv("FEEDS_SECRET", "k1" * 16)
    settings = make_settings(
        site.root,
        f"state_dir: state\nbounces:\n  maildir: bounces\nweb:\n  url: https://{DOMAIN}/newsletter\n",
    )
    store = SubscriberStore(settings.state_dir)
    readers = {
        name: store.add(f"{name}@example.com", None, None, Origin("cli"), NOW)[0]
        for name in ("hard", "soft", "vacation", "angry", "victim")
    }
    box = mailbox.Maildir(tmp_path / "bounces", create=True)
    tokens = Tokens(["k1" * 16])
    yield settings, store, readers, box, lambda r: tokens.verp(r.id, DOMAIN)
    store.close()


def digests_sent(settings, emails, count: int) -> list[str]:
    """Record ``count`` delivered digests to these addresses, as feeds digest would."""
    state = State(settings.state_dir)
    keys = []
    for n in range(count):
        key = f"2026-11-{20 + n:02d}"
        digest = state.plan(
            key=key,
            created_at=NOW,
            window=(NOW, NOW),
            posts=[],
            variants=[Variant("v", "s", "h", "t", 1)],
            recipients=[Recipient(e, None, "v", f"<{key}.{e}>") for e in emails],
        )
        for e in emails:
            state.mark(digest, e, "sent", NOW)
        keys.append(key)
    state.close()
    return keys


def test_a_hard_bounce_suppresses_the_address_named_by_its_verp(env):
    settings, store, readers, box, verp = env
    box.add(dsn(verp(readers["hard"]), "hard@example.com", "5.1.1"))
    report = process_bounces(settings, None, NOW)
    assert (report.read, report.hard, report.suppressed) == (1, 1, ["hard@example.com"])
    assert store.get(readers["hard"].id).status == "bounced"
    assert store.suppression("hard@example.com") == "bounced"
    assert [e.event for e in store.consent_log(readers["hard"].id)][-1] == "bounce"


def test_a_complaint_suppresses_the_address(env):
    settings, store, readers, box, verp = env
    box.add(complaint(f"fbl@{DOMAIN}", verp(readers["angry"]), "angry@example.com"))
    report = process_bounces(settings, None, NOW)
    assert (report.complaints, report.suppressed) == (1, ["angry@example.com"])
    assert store.get(readers["angry"].id).status == "complained"


def test_an_auto_reply_is_not_a_bounce(env):
    settings, store, readers, box, verp = env
    box.add(auto_reply(verp(readers["vacation"])))
    report = process_bounces(settings, None, NOW)
    assert (report.auto_replies, report.hard, report.soft, report.suppressed) == (1, 0, 0, [])
    assert store.get(readers["vacation"].id).status == "active"


def test_a_forged_verp_address_is_ignored(env):
    settings, store, readers, box, verp = env
    forged = verp(readers["victim"]).replace(
        f"bounce+{readers['victim'].id}.", f"bounce+{readers['victim'].id}.aaaa"
    )
    box.add(dsn(forged, "victim@example.com", "5.1.1"))
    box.add(dsn(f"bounce+{readers['victim'].id}.abcdefgh@{DOMAIN}", "victim@example.com", "5.1.1"))
    report = process_bounces(settings, None, NOW)
    assert (report.read, report.ignored, report.hard, report.suppressed) == (2, 2, 0, [])
    assert store.get(readers["victim"].id).status == "active"


def test_soft_bounces_suppress_after_three_of_the_last_five_digests(env):
    settings, store, readers, box, verp = env
    keys = digests_sent(settings, ["soft@example.com"], 5)
    for n, key in enumerate(keys[2:]):
        box.add(dsn(verp(readers["soft"]), "soft@example.com", "4.2.2", digest=key))
        report = process_bounces(settings, None, NOW + timedelta(days=n))
        assert report.soft == 1
        expected = "bounced" if n == 2 else "active"
        assert store.get(readers["soft"].id).status == expected
    assert report.suppressed == ["soft@example.com"]


def test_old_soft_bounces_outside_the_last_five_digests_do_not_count(env):
    settings, store, readers, box, verp = env
    keys = digests_sent(settings, ["soft@example.com"], 8)
    for key in (keys[0], keys[1], keys[7]):
        box.add(dsn(verp(readers["soft"]), "soft@example.com", "5.2.2", digest=key))
    report = process_bounces(settings, None, NOW)
    assert (report.soft, report.suppressed) == (3, [])
    assert store.get(readers["soft"].id).status == "active"


def test_each_mail_is_read_once_and_a_delay_notice_is_not_a_failure(env):
    settings, _, readers, box, verp = env
    box.add(dsn(verp(readers["soft"]), "soft@example.com", "4.4.7", action="delayed"))
    first = process_bounces(settings, None, NOW)
    second = process_bounces(settings, None, NOW)
    assert (first.read, first.soft, first.ignored, second.read) == (1, 0, 1, 0)


def test_classify_reads_dsn_status_codes():
    assert classify(dsn("x@y", "a@b.c", "5.1.1").encode()).kind == "hard"
    assert classify(dsn("x@y", "a@b.c", "5.2.2").encode()).kind == "soft"
    assert classify(dsn("x@y", "a@b.c", "4.0.0").encode()).kind == "soft"
    finding = classify(dsn("x@y", "a@b.c", "5.1.1", digest="2026-11-28.2").encode())
    assert (finding.addresses, finding.digest) == (("a@b.c",), "2026-11-28.2")


def test_without_a_maildir_one_line(site, make_settings):
    from feeds.errors import ConfigError

    settings = make_settings(site.root, "state_dir: state\n")
    with pytest.raises(ConfigError) as caught:
        process_bounces(settings, None, NOW)
    assert str(caught.value) == "bounces.maildir: not set (or give --maildir DIR)"


# --- hostile mail: nothing in the Maildir may stop a run ---------------------------------------

GARBAGE = random.Random(3).randbytes(3000)  # no header flufl.bounce's yale detector can read
NO_FROM = b"To: someone@example.com\nSubject: hello\n\nNot a bounce.\n"
EMPTY_FROM = b"From: \nSubject: hello\n\nNot a bounce.\n"
DETECTOR_FAILED = "ignored, a bounce detector (flufl.bounce) raised IndexError"


def test_unreadable_mails_are_ignored_and_the_dsn_beside_them_is_processed(env, caplog):
    settings, store, readers, box, verp = env
    keys = [box.add(mail) for mail in (GARBAGE, NO_FROM, EMPTY_FROM)]
    box.add(dsn(verp(readers["hard"]), "hard@example.com", "5.1.1"))
    report = process_bounces(settings, None, NOW)
    assert (report.read, report.hard, report.ignored) == (4, 1, 3)
    assert report.suppressed == ["hard@example.com"]
    assert store.get(readers["hard"].id).status == "bounced"
    new = settings.bounces_maildir / "new"
    assert sorted(r.getMessage() for r in caplog.records) == sorted(
        f"{new / key}: {DETECTOR_FAILED}" for key in keys
    )
    assert all(r.levelno == logging.WARNING for r in caplog.records)  # no detector traceback


def test_an_ignored_unreadable_mail_is_not_read_again(env, caplog):
    settings, _, _, box, _ = env
    box.add(GARBAGE)
    first = process_bounces(settings, None, NOW)
    caplog.clear()
    key = box.add(NO_FROM)
    second = process_bounces(settings, None, NOW)
    assert (first.read, first.ignored, second.read, second.ignored) == (1, 1, 1, 1)
    new = settings.bounces_maildir / "new"
    assert [r.getMessage() for r in caplog.records] == [f"{new / key}: {DETECTOR_FAILED}"]


def test_a_dsn_naming_its_recipient_in_8_bit_bytes_is_read():
    raw = dsn("x@y", "a@b.c", "5.1.1").encode().replace(b"a@b.c", "读者@b.c".encode())
    assert classify(raw).addresses == ("读者@b.c",)


@pytest.mark.parametrize(
    "raw",
    [b"", b"\0" * 5000, b"Subject: " + b"x" * 1_000_000 + b"\n\nbody", b"\xff\xfe\x80" * 1000],
    ids=["empty", "NUL bytes", "huge header line", "not UTF-8"],
)
def test_garbage_is_an_ignored_finding(raw):
    assert classify(raw).kind == "other"


def mail_fields() -> st.SearchStrategy[bytes]:
    """Header blocks of a bounce or a report, with random bytes as values."""
    names = st.sampled_from(
        [b"From", b"Final-Recipient", b"Original-Recipient", b"Action", b"Status",
         b"Original-Rcpt-To", b"Removal-Recipient", b"Auto-Submitted", b"Precedence"]
    )  # fmt: skip
    field = st.tuples(names, st.binary(max_size=30)).map(lambda f: f[0] + b": " + f[1])
    return st.lists(field, max_size=5).map(b"\n".join)


@st.composite
def hostile_mails(draw) -> bytes:
    """Random bytes, or a DSN / abuse report whose fields are random bytes."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=3000))
    report = draw(st.sampled_from([b"delivery-status", b"feedback-report"]))
    blocks = st.lists(mail_fields(), max_size=3).map(b"\n\n".join)  # per message, per recipient
    parts = draw(st.lists(blocks, max_size=3))
    body = b"".join(b"--B\nContent-Type: message/" + report + b"\n\n" + p + b"\n\n" for p in parts)
    head = draw(mail_fields())
    return (
        head + b"\nContent-Type: multipart/report; report-type=" + report + b"; boundary=B\n\n"
        + body + b"--B--\n" + draw(st.binary(max_size=100))
    )  # fmt: skip


@hypothesis_settings(max_examples=examples(300))
@given(raw=hostile_mails())
def test_classify_never_raises_on_hostile_mail(raw):
    assert isinstance(classify(raw), Finding)


def test_the_command_skips_a_fifo_and_garbage_and_reads_the_dsn(site, tmp_path):
    """A FIFO in new/ would block a plain read forever; the command runs in a child process
    with a timeout so that a hang fails the test."""
    config = tmp_path / "config.yaml"
    config.write_text(f"site_dir: {site.root}\nstate_dir: state\n", encoding="utf-8")
    store = SubscriberStore(tmp_path / "state")
    store.add("hard@example.com", None, None, Origin("cli"), NOW)
    store.close()
    new = tmp_path / "box" / "new"
    for sub in ("new", "cur", "tmp"):
        (tmp_path / "box" / sub).mkdir(parents=True)
    (new / "1.garbage").write_bytes(GARBAGE)
    os.mkfifo(new / "2.fifo")
    (new / "3.dsn").write_text(dsn("bounces@example.com", "hard@example.com", "5.1.1"))
    (new / "4.folder").mkdir()
    (new / "5.huge").write_bytes(b"From: a@example.com\n\n" + b"x" * 2_000_000)
    args = feeds_args("bounces", "--config", config, "--maildir", tmp_path / "box")
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (
        0,
        "4 mails read: 1 hard bounces, 0 soft, 0 complaints, 0 auto-replies, 3 ignored; "
        "1 addresses suppressed\n",
    )
    assert result.stderr == (
        f"WARNING: {new / '1.garbage'}: {DETECTOR_FAILED}\n"
        f"WARNING: {new / '2.fifo'}: ignored, a FIFO, not a regular file\n"
        f"WARNING: {new / '5.huge'}: ignored, 2,000,021 bytes, more than the bounce size limit "
        "(2,000,000); not read\n"
    )
