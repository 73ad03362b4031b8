"""``feeds check``: every problem a run would meet, one line each, and nothing written."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from feeds.check import check
from tests.conftest import NOW, ROOT, feeds_args

DEFAULTS = ROOT / "templates"
DEFAULT_COUNT = sum(1 for path in DEFAULTS.rglob("*") if path.is_file())


@pytest.fixture
def configured(site, tmp_path):
    """A site with two posts and a function writing config.yaml beside it."""
    site.post("2022-05-24-a.md", categories="kejiribao emnews")
    site.post("2022-05-24-b.md", categories="kejiribao")

    def write(text: str = "") -> Path:
        path = tmp_path / "config.yaml"
        path.write_text("site_dir: site\noutput: out\nstate_dir: state\n" + text, encoding="utf-8")
        return path

    return write


def problems(config: Path | None, **options) -> list[str]:
    return check(config, now=NOW, **options).problems


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(path): (path.stat().st_size, path.stat().st_mtime_ns) for path in folder.rglob("*")}


def test_a_good_setup_prints_the_summary_and_exits_0(configured, tmp_path):
    configured("digest:\n  subscribers: [{email: a@example.com, categories: all}]\n")
    result = subprocess.run(feeds_args("check"), capture_output=True, text=True, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        "config:      config.yaml\n"
        "site:        测试站 https://example.org/ (folder site)\n"
        "posts:       2 post files, 2 published\n"
        "categories:  2\n"
        "feeds:       3 feeds, 9 files (atom, rss, json) into out\n"
        "subscribers: 1 in the config, 0 active in the store; digest via outbox state/outbox\n"
        f"templates:   {DEFAULT_COUNT} compiled, 0 of them yours ({DEFAULTS})\n"
        "folders:     state state, output out\n"
        "no problems found\n"
    )


def test_check_writes_nothing(configured, tmp_path):
    configured()
    before = snapshot(tmp_path)
    assert check(tmp_path / "config.yaml", now=NOW, smtp=False).ok
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "state").exists() and not (tmp_path / "out").exists()


def test_problems_in_both_config_files_are_all_reported_and_exit_2(configured, site, tmp_path):
    site.config("url: example.org\ntimezone: Mars/Base\n")
    configured("feeds: {limit: 0}\noutptu: x\n")
    result = subprocess.run(feeds_args("check"), capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "error: config.yaml: feeds.limit: Input should be greater than or equal to 1 (got 0)\n"
        "error: config.yaml: outptu: unknown key\n"
        "error: site/_config.yml: url: expected an absolute http(s) URL, got 'example.org'\n"
        "error: site/_config.yml: timezone: unknown time zone 'Mars/Base' (use an IANA name such as Asia/Shanghai)\n"
        "4 problems found\n"
    )


def test_a_config_that_is_not_yaml_is_one_line(tmp_path):
    (tmp_path / "config.yaml").write_text("feeds: [\n", encoding="utf-8")
    assert problems(tmp_path / "config.yaml") == [
        f"{tmp_path}/config.yaml: line 2: not valid YAML: expected the node content, but found '<stream end>'"
    ]


def test_a_missing_config_file_named_on_the_command_line(tmp_path):
    assert problems(tmp_path / "nope.yaml") == [f"{tmp_path}/nope.yaml: file not found"]


def test_subscriber_problems_are_reported_with_the_others(configured, tmp_path):
    config = configured(
        "digest:\n  subscribers_file: people.yaml\n"
        "  subscribers: [{email: a@example.com, categories: all}]\n"
        "schedule: {digest_cron: '61 * * * *'}\n"
    )
    (tmp_path / "people.yaml").write_text("- {email: nobody, categories: all}\n")
    assert problems(config) == [
        f"{config}: schedule.digest_cron: '61 * * * *': Error validating expression '61': the last value (61) is higher than the maximum value (59)",
        f"{tmp_path}/people.yaml: subscribers.0: email: value is not a valid email address: An email address must have an @-sign. (got 'nobody')",
    ]


def test_every_template_file_must_compile(configured, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "digest.html").write_text("{% if x %}\n{{ y }\n", encoding="utf-8")
    (mine / "page.html").write_text('{% extends "base.html" %}\n', encoding="utf-8")
    (mine / "notes.txt").write_bytes(b"\xff\xfe")
    (mine / "ok.html").write_text('{% include "digest.txt" %}\n', encoding="utf-8")
    config = configured('digest:\n  templates_dir: mine\n  subject: "{{ date"\n')
    assert problems(config) == [
        f"{config}: digest.subject: line 1: unexpected end of template, expected 'end of print "
        "statement'. (got '{{ date')",
        f"{mine}/digest.html: line 2: unexpected '}}'",
        f"{mine}/notes.txt: not UTF-8 text",
        f"{mine}/page.html: line 1: template base.html not found",
    ]


def test_a_missing_templates_folder(configured, tmp_path):
    config = configured("digest: {templates_dir: nowhere}\n")
    assert problems(config) == [
        f"{config}: digest.templates_dir: folder not found: {tmp_path}/nowhere"
    ]


def test_smtp_secrets_must_be_in_the_environment(configured, monkeypatch):
    monkeypatch.delenv("FEEDS_T_USER", raising=False)
    monkeypatch.setenv("FEEDS_T_PASSWORD", "")
    config = configured(
        "digest:\n  transport: smtp\n"
        "  smtp: {username_env: FEEDS_T_USER, password_env: FEEDS_T_PASSWORD, ca_file: /nope.pem}\n"
    )
    assert problems(config) == [
        f"{config}: digest.smtp.username_env: environment variable FEEDS_T_USER is not set",
        f"{config}: digest.smtp.password_env: environment variable FEEDS_T_PASSWORD is empty",
        f"{config}: digest.smtp.ca_file: file not found: /nope.pem",
    ]


def test_the_web_secret_must_be_in_the_environment(configured, monkeypatch):
    monkeypatch.delenv("FEEDS_T_SECRET", raising=False)
    config = configured("web: {url: https://example.org/news, secret_env: FEEDS_T_SECRET}\n")
    assert problems(config) == [
        f"{config}: web.secret_env: environment variable FEEDS_T_SECRET is not set"
    ]
    monkeypatch.setenv("FEEDS_T_SECRET", "k")
    assert problems(config) == [
        f"{config}: web.secret_env: environment variable FEEDS_T_SECRET holds 1 byte; "
        "a signing key needs at least 32 "
        "(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
    ]
    monkeypatch.setenv("FEEDS_T_SECRET", "k" * 32)
    assert problems(config) == []


def test_subscribers_in_the_store_are_counted_without_touching_it(configured, tmp_path):
    from feeds.newsletter.subscribers import Origin, SubscriberStore

    store = SubscriberStore(tmp_path / "state")
    store.add("a@example.com", None, None, Origin("cli"), NOW)
    store.add("b@example.com", None, None, Origin("cli"), NOW)
    store.close()
    config = configured()
    before = snapshot(tmp_path)
    report = check(config, now=NOW)
    assert snapshot(tmp_path) == before
    assert (
        "subscribers: 0 in the config, 2 active in the store; "
        f"digest via outbox {tmp_path}/state/outbox"
    ) in report.summary


def test_a_user_name_without_a_password_variable(configured, monkeypatch):
    monkeypatch.setenv("FEEDS_T_USER", "digest")
    config = configured("digest:\n  transport: smtp\n  smtp: {username_env: FEEDS_T_USER}\n")
    assert problems(config) == [
        f"{config}: digest.smtp.password_env: missing; the SMTP user name and password go together"
    ]


def test_secrets_of_an_unused_transport_are_not_required(configured, monkeypatch):
    monkeypatch.delenv("FEEDS_T_USER", raising=False)
    config = configured("digest:\n  smtp: {username_env: FEEDS_T_USER}\n")
    assert problems(config) == []


def test_state_and_output_folders_must_be_creatable(configured, tmp_path):
    (tmp_path / "blocker").write_text("", encoding="utf-8")
    config = configured("")
    text = config.read_text().replace("state_dir: state", "state_dir: blocker/state")
    config.write_text(text.replace("output: out", "output: blocker"), encoding="utf-8")
    assert problems(config) == [
        f"{config}: state_dir: cannot create {tmp_path}/blocker/state: {tmp_path}/blocker is a file, not a folder",
        f"{config}: output: {tmp_path}/blocker is a file, not a folder",
    ]


def test_a_damaged_state_database_is_a_problem_as_it_would_stop_the_digest(configured, tmp_path):
    config = configured()
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "state.sqlite3").write_bytes(os.urandom(8192))
    assert problems(config) == [
        f"{tmp_path / 'state' / 'state.sqlite3'}: cannot use the state database: "
        "file is not a database"
    ]


def test_a_state_database_without_subscribers_yet_is_no_problem(configured, tmp_path):
    import sqlite3

    config = configured()
    (tmp_path / "state").mkdir()
    sqlite3.connect(tmp_path / "state" / "state.sqlite3").execute("CREATE TABLE t (x)").close()
    assert problems(config) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_state_folder(configured, tmp_path):
    (tmp_path / "state").mkdir(mode=0o500)
    config = configured()
    try:
        assert problems(config) == [f"{config}: state_dir: {tmp_path}/state is not writable"]
    finally:
        (tmp_path / "state").chmod(0o700)


def test_smtp_option_says_the_server_accepts_us_and_sends_nothing(configured, smtp_server):
    config = configured(
        f"digest:\n  transport: smtp\n  smtp: {{port: {smtp_server.port}, security: none}}\n"
    )
    report = check(config, now=NOW, smtp=True)
    assert report.problems == []
    assert report.summary[-1] == (
        f"smtp:        127.0.0.1:{smtp_server.port} accepts us "
        "(sender digest@example.org accepted; no mail sent)"
    )
    assert smtp_server.messages == []


def test_smtp_option_with_starttls_and_login(configured, tls_smtp_server, monkeypatch):
    monkeypatch.setenv("FEEDS_T_USER", "digest")
    monkeypatch.setenv("FEEDS_T_PASSWORD", "s3cret")
    config = configured(
        "digest:\n  transport: smtp\n"
        f"  smtp: {{port: {tls_smtp_server.port}, ca_file: {tls_smtp_server.ca_file},\n"
        "         username_env: FEEDS_T_USER, password_env: FEEDS_T_PASSWORD}\n"
    )
    report = check(config, now=NOW, smtp=True)
    assert report.problems == []
    assert report.summary[-1] == (
        f"smtp:        127.0.0.1:{tls_smtp_server.port} accepts us "
        "(STARTTLS, logged in as digest, sender digest@example.org accepted; no mail sent)"
    )


def test_smtp_option_reports_a_refused_login(configured, tls_smtp_server, monkeypatch):
    monkeypatch.setenv("FEEDS_T_USER", "digest")
    monkeypatch.setenv("FEEDS_T_PASSWORD", "wrong")
    config = configured(
        "digest:\n  transport: smtp\n"
        f"  smtp: {{port: {tls_smtp_server.port}, ca_file: {tls_smtp_server.ca_file},\n"
        "         username_env: FEEDS_T_USER, password_env: FEEDS_T_PASSWORD}\n"
    )
    assert problems(config, smtp=True) == [
        f"127.0.0.1:{tls_smtp_server.port}: SMTP login refused: 535 5.7.8 Authentication credentials invalid"
    ]


def test_smtp_option_without_credentials_still_connects_and_shows_the_refusal(
    configured, tls_smtp_server, monkeypatch
):
    monkeypatch.delenv("FEEDS_T_USER", raising=False)
    monkeypatch.setenv("FEEDS_T_PASSWORD", "s3cret")
    config = configured(
        "digest:\n  transport: smtp\n"
        f"  smtp: {{port: {tls_smtp_server.port}, ca_file: {tls_smtp_server.ca_file},\n"
        "         username_env: FEEDS_T_USER, password_env: FEEDS_T_PASSWORD}\n"
    )
    assert problems(config, smtp=True) == [
        f"{config}: digest.smtp.username_env: environment variable FEEDS_T_USER is not set",
        f"127.0.0.1:{tls_smtp_server.port}: sender digest@example.org refused: 530 5.7.0 Authentication required",
    ]


def test_smtp_option_with_an_untrusted_certificate(configured, tls_smtp_server):
    config = configured(f"digest:\n  transport: smtp\n  smtp: {{port: {tls_smtp_server.port}}}\n")
    [problem] = problems(config, smtp=True)
    assert problem.startswith(
        f"127.0.0.1:{tls_smtp_server.port}: TLS certificate not trusted: self"
    )


def test_smtp_option_when_nothing_listens(configured):
    from tests.conftest import free_port

    port = free_port()
    config = configured(f"digest:\n  transport: smtp\n  smtp: {{port: {port}, timeout: 5}}\n")
    assert problems(config, smtp=True) == [f"127.0.0.1:{port}: cannot connect: Connection refused"]
