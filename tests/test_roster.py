"""``feeds subscribers`` and ``feeds bounces`` on the command line: exact output, exit codes."""

from __future__ import annotations

import csv
import io
import os

import pytest
from click.testing import CliRunner

from feeds.cli import main
from feeds.newsletter.subscribers import Origin, SubscriberStore
from tests.conftest import NOW


@pytest.fixture
def config(site, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(f"site_dir: {site.root}\nstate_dir: state\n", encoding="utf-8")
    return path


def feeds(config, *args):
    """Run a command with --config right after its name; CliRunner keeps stdout and stderr apart."""
    n = 2 if args[0] == "subscribers" else 1
    return CliRunner().invoke(main, [*args[:n], "--config", str(config), *args[n:]])


@pytest.mark.parametrize(
    "command",
    [
        ["subscribers"],
        *(["subscribers", c] for c in ("list", "add", "remove", "import", "export")),
        ["bounces"],
    ],
)
def test_help_works(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and "Example" in result.output


def test_add_list_remove(config):
    added = feeds(
        config, "subscribers", "add", "Reader@Example.com", "--name", "读者", "--categories", "b a"
    )
    assert (added.exit_code, added.stdout) == (0, "added: Reader@example.com (a b)\n")
    feeds(config, "subscribers", "add", "all@example.com")
    listed = feeds(config, "subscribers", "list")
    assert listed.stdout == (
        "all@example.com\tactive\tall\t\n"
        "Reader@example.com\tactive\ta b\t读者\n"
        "2 subscribers (2 active)\n"
    )
    removed = feeds(config, "subscribers", "remove", "reader@example.com")
    assert (removed.exit_code, removed.stdout) == (0, "unsubscribed Reader@example.com\n")
    again = feeds(config, "subscribers", "add", "reader@example.com")
    assert (again.exit_code, again.stderr) == (
        1,
        "Reader@example.com is unsubscribed; not re-activated\n",
    )
    only = feeds(config, "subscribers", "list", "--status", "unsubscribed")
    assert (
        only.stdout
        == "Reader@example.com\tunsubscribed\ta b\t读者\n1 subscribers (1 unsubscribed)\n"
    )


def test_a_category_no_post_is_in_is_added_with_a_warning(config, site):
    site.post("2022-05-24-a.md", categories="kejiribao")
    added = feeds(
        config, "subscribers", "add", "r@example.com", "--categories", "kejiribao kejribao"
    )
    assert (added.exit_code, added.stdout) == (0, "added: r@example.com (kejiribao kejribao)\n")
    assert added.stderr == (
        "warning: no published post is in category kejribao; r@example.com gets nothing "
        "from it until one is\n"
    )
    known = feeds(config, "subscribers", "add", "s@example.com", "--categories", "kejiribao")
    assert (known.exit_code, known.stderr) == (0, "")
    feeds(config, "subscribers", "remove", "s@example.com")
    refused = feeds(config, "subscribers", "add", "s@example.com", "--categories", "kejribao")
    assert (refused.exit_code, refused.stderr) == (
        1,
        "s@example.com is unsubscribed; not re-activated\n",
    )


def test_a_bad_address_is_one_line_and_exit_2(config):
    result = feeds(config, "subscribers", "add", "not-an-address")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: not a valid email address: An email address must have an @-sign.\n"
    )


def test_remove_forget_keeps_the_address_suppressed(config, tmp_path):
    feeds(config, "subscribers", "add", "gone@example.com")
    result = feeds(config, "subscribers", "remove", "gone@example.com", "--forget")
    assert result.stdout == "forgot gone@example.com; the address stays suppressed\n"
    store = SubscriberStore(tmp_path / "state")
    assert store.all() == [] and store.is_suppressed("gone@example.com")
    missing = feeds(config, "subscribers", "remove", "nobody@example.com")
    assert (missing.exit_code, missing.stderr) == (
        1,
        "error: nobody@example.com: not a subscriber\n",
    )


def test_import_accepts_a_bom_and_never_reactivates_a_reader_who_left(config, tmp_path):
    store = SubscriberStore(tmp_path / "state")
    left = store.add("left@example.com", None, None, Origin("cli"), NOW)[0]
    store.unsubscribe(left.id, Origin("one-click"), NOW)
    store.add("same@example.com", None, None, Origin("cli"), NOW)
    file = tmp_path / "subs.csv"
    file.write_text(
        "\ufeffemail,name,categories,status\n"
        "new@example.com,新读者,kejiribao emnews,\n"
        "left@example.com,,all,active\n"
        "same@example.com,,all,\n"
        "optout@example.com,,,unsubscribed\n"
        "broken,,,\n",
        encoding="utf-8",
    )
    result = feeds(config, "subscribers", "import", str(file))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{file}: row 6: not a valid email address")
    assert result.stdout == (
        "1 added, 0 updated, 1 unchanged, 1 left as they were (unsubscribed, bounced or "
        "complained), 1 suppressed, 1 rows refused\n"
    )
    assert store.by_email("left@example.com").status == "unsubscribed"
    assert store.by_email("new@example.com").categories == ("emnews", "kejiribao")
    assert store.is_suppressed("optout@example.com")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda path: os.mkfifo(path), "a FIFO, not a regular file"),
        (lambda path: None, "file not found"),
        (lambda path: path.write_bytes(b"email\n\xff\xfe@x\n"), "cannot read: 'utf-8'"),
    ],
)
def test_an_import_file_that_is_no_readable_file_is_one_line_and_never_blocks(
    config, tmp_path, make, reason
):
    path = tmp_path / "people.csv"
    make(path)
    result = feeds(config, "subscribers", "import", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {path}: {reason}")
    assert result.stderr.count("\n") == 1


def test_adding_an_active_subscriber_again_keeps_what_the_options_do_not_name(config):
    feeds(config, "subscribers", "add", "alice@example.com", "--name", "Alice", "--categories", "a")
    again = feeds(config, "subscribers", "add", "ALICE@Example.COM")
    assert (again.exit_code, again.stdout) == (0, "unchanged: alice@example.com (a)\n")
    named = feeds(config, "subscribers", "add", "alice@example.com", "--categories", "b c")
    assert (named.exit_code, named.stdout) == (0, "updated: alice@example.com (b c)\n")
    listed = feeds(config, "subscribers", "list")
    assert listed.stdout.splitlines()[0] == "alice@example.com\tactive\tb c\tAlice"


def test_export_writes_every_subscriber_whatever_the_status(config, tmp_path):
    store = SubscriberStore(tmp_path / "state")
    a = store.add("a@example.com", "甲", ["x", "y"], Origin("cli"), NOW)[0]
    store.add("b@example.com", None, None, Origin("cli"), NOW)
    store.unsubscribe(a.id, Origin("web"), NOW)
    store.request("c@example.com", None, None, Origin("web"), NOW, confirm_interval=NOW - NOW)
    result = feeds(config, "subscribers", "export")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert result.stdout.splitlines()[0] == (
        "email,name,categories,status,created_at,confirmed_at,unsubscribed_at"
    )
    assert [(r["email"], r["name"], r["categories"], r["status"]) for r in rows] == [
        ("a@example.com", "甲", "x y", "unsubscribed"),
        ("b@example.com", "", "all", "active"),
        ("c@example.com", "", "all", "pending"),
    ]


def test_bounces_command_prints_one_summary_line(config, tmp_path):
    import mailbox

    mailbox.Maildir(tmp_path / "box", create=True)
    result = feeds(config, "bounces", "--maildir", str(tmp_path / "box"))
    assert (result.exit_code, result.stdout) == (
        0,
        "0 mails read: 0 hard bounces, 0 soft, 0 complaints, 0 auto-replies, 0 ignored; "
        "0 addresses suppressed\n",
    )
    missing = feeds(config, "bounces")
    assert (missing.exit_code, missing.stderr) == (
        2,
        "error: bounces.maildir: not set (or give --maildir DIR)\n",
    )


def test_export_cells_that_a_spreadsheet_would_run_as_formulas_start_with_a_quote(config, tmp_path):
    store = SubscriberStore(tmp_path / "state")
    store.add("=1+1@example.com", '=HYPERLINK("http://evil.example","x")', None, Origin("web"), NOW)
    store.add("-2@example.com", "@SUM(A1)", ["+x"], Origin("web"), NOW)
    store.add("plain@example.com", "读者 = 1", None, Origin("web"), NOW)
    exported = feeds(config, "subscribers", "export").stdout
    rows = [(r["email"], r["name"], r["categories"]) for r in csv.DictReader(io.StringIO(exported))]
    assert rows == [
        ("'-2@example.com", "'@SUM(A1)", "'+x"),
        ("'=1+1@example.com", '\'=HYPERLINK("http://evil.example","x")', "all"),
        ("plain@example.com", "读者 = 1", "all"),
    ]
    file = tmp_path / "again.csv"
    file.write_text(exported, encoding="utf-8")
    assert feeds(config, "subscribers", "import", str(file)).exit_code == 0
    assert store.by_email("=1+1@example.com").name == '=HYPERLINK("http://evil.example","x")'
    assert [s.email for s in store.all()] == [
        "-2@example.com",
        "=1+1@example.com",
        "plain@example.com",
    ]


def test_add_after_forget_records_nothing(config, tmp_path):
    feeds(config, "subscribers", "add", "gone@example.com")
    feeds(config, "subscribers", "remove", "gone@example.com", "--forget")
    result = feeds(config, "subscribers", "add", "gone@example.com")
    assert (result.exit_code, result.stderr) == (
        1,
        "gone@example.com is suppressed (it left or was forgotten); not added\n",
    )
    assert SubscriberStore(tmp_path / "state").all() == []
