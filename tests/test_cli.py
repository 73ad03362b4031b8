"""The command line: exact output, meaningful exit codes, no tracebacks for user errors."""

from __future__ import annotations

import os
import subprocess
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from feeds.cli import main
from tests.conftest import feeds_args


def today_in_shanghai() -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d")


COMMANDS = [[], ["build"], ["digest"], ["schedule"], ["init"], ["check"], ["serve"]]


def run_feeds(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """The real console entry point in a child process, as an operator runs it."""
    return subprocess.run(feeds_args(*args), capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_works_for_every_command(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output


def test_version_names_the_installed_release():
    from feeds import __version__

    result = run_feeds("--version")
    assert (result.returncode, result.stdout) == (0, f"feeds, version {__version__}\n")


def test_build_prints_warnings_then_one_summary_line(example_site, tmp_path):
    result = run_feeds("build", "--site", str(example_site), "--output", str(tmp_path / "out"))
    assert result.returncode == 0
    assert result.stderr == (
        f"{example_site}/_posts/-202205262391921712.md: skipped: file name is not "
        "YYYY-MM-DD-title.ext, so Jekyll does not publish it\n"
    )
    summary = result.stdout.strip()
    assert summary.startswith("7 posts read, 1 skipped, 29 files written, 0 unchanged in ")
    assert summary.endswith("s") and "\n" not in summary
    again = run_feeds("build", "--site", str(example_site), "--output", str(tmp_path / "out"))
    assert "0 files written, 29 unchanged" in again.stdout


def test_quiet_prints_nothing(example_site, tmp_path):
    result = run_feeds("build", "-q", "--site", str(example_site), "--output", str(tmp_path / "o"))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_strict_exits_1_and_writes_nothing(example_site, tmp_path):
    result = run_feeds(
        "build", "--strict", "--site", str(example_site), "--output", str(tmp_path / "o")
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "error: 1 warning(s) and --strict was given; no feed written"
    )
    assert not (tmp_path / "o").exists()


def test_bad_config_exits_2_with_one_line_per_problem_and_no_traceback(example_site, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("feeds: {limit: -1}\noutptu: x\n", encoding="utf-8")
    result = run_feeds("build", "--config", str(config), "--site", str(example_site))
    assert result.returncode == 2
    assert result.stderr == (
        f"error: {config}: feeds.limit: Input should be greater than or equal to 1 (got -1)\n"
        f"error: {config}: outptu: unknown key\n"
    )
    assert result.stdout == ""


def test_missing_site_folder_exits_2(tmp_path):
    result = run_feeds("build", "--site", str(tmp_path / "nope"))
    assert (result.returncode, result.stderr) == (
        2,
        f"error: {tmp_path / 'nope'}: site folder not found\n",
    )


def test_many_similar_warnings_are_collapsed(site, tmp_path):
    for n in range(8):
        site.post(f"2022-05-24-p{n}.md", title="")
    result = run_feeds("build", "--site", str(site.root), "--output", str(tmp_path / "o"))
    lines = result.stderr.splitlines()
    assert len(lines) == 6
    assert lines[-1] == "... and 3 more like 'no title' (-v shows all)"
    verbose = run_feeds("build", "-v", "--site", str(site.root), "--output", str(tmp_path / "o"))
    assert len(verbose.stderr.splitlines()) == 8


def test_digest_dry_run_lists_recipients_and_sends_nothing(
    site, make_settings, smtp_server, tmp_path
):
    from tests.test_dispatch import digest_config, news_site

    news_site(site)
    make_settings(site.root, digest_config(smtp_server.port))
    result = run_feeds(
        "digest",
        "--dry-run",
        "--config",
        str(tmp_path / "config.yaml"),
        "--site",
        str(site.root),
        "--since",
        "2026-11-27",
    )
    assert result.returncode == 0, result.stderr
    day = today_in_shanghai()  # the CLI uses the real clock
    assert result.stdout == (
        f"reader@example.com\t测试站 每日摘要 {day}（3 篇）\t3 items\n"
        f"all@example.com\t测试站 每日摘要 {day}（4 篇）\t4 items\n"
        "2 would be sent, 1 skipped (dry run, nothing sent)\n"
    )
    assert smtp_server.messages == []


def test_digest_sends_and_says_so_then_has_nothing_new(site, make_settings, smtp_server, tmp_path):
    from tests.test_dispatch import digest_config, news_site

    news_site(site)
    make_settings(site.root, digest_config(smtp_server.port))
    args = ("digest", "--config", str(tmp_path / "config.yaml"), "--site", str(site.root))
    first = run_feeds(*args, "--since", "2026-11-27")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("digest ") and first.stdout.endswith(
        ": 2 sent, 1 skipped, 0 failed, 0 deferred, 0 left for the next run\n"
    )
    assert len(smtp_server.messages) == 2


@pytest.mark.parametrize("other", [[], ["--dry-run"]])
def test_to_without_preview_is_a_usage_error_and_sends_nothing(
    site, make_settings, smtp_server, tmp_path, other
):
    from tests.test_dispatch import digest_config, news_site

    news_site(site)
    make_settings(site.root, digest_config(smtp_server.port))
    args = ("digest", "--config", str(tmp_path / "config.yaml"), "--site", str(site.root))
    result = run_feeds(*args, "--since", "2026-11-27", "--to", "reader@example.com", *other)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "error: --to: only with --preview; without it the digest goes to everyone\n"
    )
    assert smtp_server.messages == []


def test_bad_since_is_a_usage_error(example_site):
    result = run_feeds("digest", "--dry-run", "--site", str(example_site), "--since", "yesterday")
    assert result.returncode == 2
    assert (
        result.stderr
        == "error: --since: expected a date such as '2022-05-24 08:00', got 'yesterday'\n"
    )


# --- config values that must give one line and exit 2, never a traceback --------------------------

CONFIG_VALUE_ERRORS = {
    "an_impossible_date_in_config_yaml": (
        "site: {title: 2022-13-45}\n",
        None,
        "{config}: not valid YAML: invalid date (month must be in 1..12)",
    ),
    "an_impossible_date_in_jekyll_config": (
        "{}\n",
        "title: 2022-02-30\nurl: https://example.org\n",
        "{site}/_config.yml: not valid YAML: invalid date (day is out of range for month)",
    ),
    "a_number_int_refuses_in_config_yaml": (
        "feeds: {limit: 0x_}\n",
        None,
        "{config}: not valid YAML: a value that cannot be read "
        "(invalid literal for int() with base 16: '')",
    ),
    "a_duration_too_long_for_a_timedelta": (
        "schedule: {build_every: 99999999999999d}\n",
        None,
        "{config}: schedule.build_every: expected a duration of at most 3650d, "
        "got '99999999999999d'",
    ),
    "a_tzdata_folder_as_time_zone": (
        "site: {timezone: America}\n",
        None,
        "{config}: site.timezone: unknown time zone 'America' "
        "(use an IANA name such as Asia/Shanghai)",
    ),
    "a_control_character_in_a_config_title": (
        'site: {title: "a\\x01b"}\n',
        None,
        "{config}: site.title: contains the control character U+0001",
    ),
    "binary_data_as_jekyll_title": (
        "{}\n",
        "title: !!binary aGVsbG8=\nurl: https://example.org\n",
        "{site}/_config.yml: title: expected text, got binary data",
    ),
    "a_list_as_jekyll_lang": (
        "{}\n",
        "lang: [zh, en]\nurl: https://example.org\n",
        "{site}/_config.yml: lang: expected text, got a list",
    ),
    "a_control_character_in_jekyll_description": (
        "{}\n",
        'description: "a\\x1b[31mb"\nurl: https://example.org\n',
        "{site}/_config.yml: description: contains the control character U+001B",
    ),
    "a_control_character_in_the_permalink": (
        "{}\n",
        'permalink: "/:title\\x00.html"\nurl: https://example.org\n',
        "{site}/_config.yml: permalink: contains the control character U+0000",
    ),
    "a_control_character_in_baseurl": (
        "{}\n",
        'baseurl: "/blog\\x7f"\nurl: https://example.org\n',
        "{site}/_config.yml: baseurl: contains the control character U+007F",
    ),
    "a_control_character_in_the_url": (
        'site: {url: "https://example.org/\\x0c"}\n',
        None,
        "{config}: site.url: contains the control character U+000C "
        "(got 'https://example.org/\\x0c')",
    ),
    "credentials_in_the_site_url": (  # the password is not repeated into logs
        "site: {url: 'https://user:secret@example.org'}\n",
        None,
        "{config}: site.url: expected a URL without user name or password, "
        "got 'https://user:***@example.org'",
    ),
    "credentials_in_a_site_url_of_another_scheme": (
        "site: {url: 'ftp://user:secret@example.org'}\n",
        None,
        "{config}: site.url: expected an absolute http(s) URL, got 'ftp://user:***@example.org'",
    ),
    "credentials_in_the_url_of_config_yml": (
        "{}\n",
        "url: 'https://user:p@ss:word@example.org'\n",
        "{site}/_config.yml: url: expected a URL without user name or password, "
        "got 'https://user:***@example.org'",
    ),
    "credentials_and_a_control_character_in_the_site_url": (
        'site: {url: "https://user:secret@example.org/\\x0c"}\n',
        None,
        "{config}: site.url: contains the control character U+000C "
        "(got 'https://user:***@example.org/\\x0c')",
    ),
    "a_port_out_of_range_in_the_site_url": (
        "site: {url: 'https://example.org:99999'}\n",
        None,
        "{config}: site.url: expected a port between 1 and 65535, got 'https://example.org:99999'",
    ),
    "a_subscribers_file_holding_a_number": (
        "digest: {subscribers_file: subs.yaml}\n",
        None,
        "{tmp}/subs.yaml: expected a list of subscribers, got int",
    ),
    "an_infinite_smtp_timeout": (
        "digest: {smtp: {timeout: .inf}}\n",
        None,
        "{config}: digest.smtp.timeout: Input should be a finite number (got inf)",
    ),
    "a_rate_limit_of_one_message_in_forever": (
        "digest: {smtp: {rate_limit: 1.0e-300}}\n",
        None,
        "{config}: digest.smtp.rate_limit: expected 0 (no limit) or at least 0.000278 "
        "messages per second (one an hour) (got 1e-300)",
    ),
    "a_control_character_in_the_smtp_host": (
        'digest: {smtp: {host: "relay\\x00.example.org"}}\n',
        None,
        "{config}: digest.smtp.host: expected a host name or IP address, "
        "got 'relay\\x00.example.org'",
    ),
    "an_output_path_that_is_a_file": (
        "output: a-file\n",
        None,
        "{config}: output: {tmp}/a-file is a file, not a folder",
    ),
    "a_state_dir_inside_a_file": (
        "state_dir: a-file/state\n",
        None,
        "{config}: state_dir: cannot create {tmp}/a-file/state: {tmp}/a-file is a file, "
        "not a folder",
    ),
    "an_output_folder_inside_posts": (
        "output: site/_posts/feeds\n",
        None,
        "{config}: output: {tmp}/site/_posts/feeds is inside the site's _posts folder, "
        "where feeds would become posts",
    ),
    "an_output_folder_that_holds_the_site": (
        "output: .\n",
        None,
        "{config}: output: {tmp} holds the site itself; name a folder such as _site/feeds",
    ),
    "an_output_folder_that_is_the_state_dir": (
        "output: st\nstate_dir: st\n",
        None,
        "{config}: output: {tmp}/st overlaps state_dir ({tmp}/st); keep them apart",
    ),
    "an_output_folder_at_the_root": (
        "output: /\n",
        None,
        "{config}: output: / is the root of a file system; name a folder for the feeds",
    ),
}


@pytest.mark.parametrize(
    ("config", "jekyll", "expected"), CONFIG_VALUE_ERRORS.values(), ids=CONFIG_VALUE_ERRORS.keys()
)
def test_a_bad_config_value_is_one_line_and_exit_2(site, tmp_path, config, jekyll, expected):
    if jekyll is not None:
        site.config(jekyll)
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    (tmp_path / "subs.yaml").write_text("5\n", encoding="utf-8")
    path = tmp_path / "config.yaml"
    path.write_text(config, encoding="utf-8")
    result = run_feeds("digest", "--dry-run", "--config", str(path), "--site", str(site.root))
    line = expected.format(config=path, site=site.root, tmp=tmp_path)
    assert (result.returncode, result.stderr) == (2, f"error: {line}\n")


def test_an_output_folder_the_system_cannot_create_is_one_line_and_exit_2(site):
    result = run_feeds("build", "--site", str(site.root), "--output", "/proc/feeds-out")
    assert result.returncode == 2
    assert result.stderr.startswith("error: output: cannot create /proc/feeds-out: ")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_output_folder_that_is_not_writable_is_one_line_and_exit_2(site, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    result = run_feeds("build", "--site", str(site.root), "--output", str(locked / "feeds"))
    assert (result.returncode, result.stderr) == (
        2,
        f"error: --output: cannot create {locked}/feeds: {locked} is not writable\n",
    )


@pytest.mark.parametrize("command", [["digest", "--dry-run"], ["subscribers", "list"]])
def test_a_corrupt_state_database_is_named_with_what_to_do(site, tmp_path, command):
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "state.sqlite3").write_bytes(b"not a database at all, " * 100)
    (tmp_path / "config.yaml").write_text(
        f"state_dir: state\nsite_dir: {site.root}\n", encoding="utf-8"
    )
    result = run_feeds(*command, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (
        1,
        "error: state/state.sqlite3: cannot use the state database: file is not a database "
        "(restore it from a backup, or move it aside to start afresh; without it the next "
        "digest takes digest.first_window and may repeat the last digest's posts)\n",
    )


def damaged_schema(path: Path) -> None:
    """A database whose table name and schema SQL are cut off mid-character (not UTF-8)."""
    import sqlite3

    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("CREATE TABLE bounces (x)")
        db.execute("PRAGMA writable_schema=ON")
        db.execute(
            "UPDATE sqlite_master SET name = CAST(X'BA6F756E636573' AS TEXT), "
            "sql = CAST(X'435245415445205441424C4520BA' AS TEXT) WHERE name = 'bounces'"
        )


@pytest.mark.parametrize("command", [["digest", "--dry-run"], ["subscribers", "list"]])
def test_a_state_database_with_a_damaged_schema_is_one_line_not_a_traceback(
    site, tmp_path, command
):
    (tmp_path / "state").mkdir()
    damaged_schema(tmp_path / "state" / "state.sqlite3")
    (tmp_path / "config.yaml").write_text(
        f"state_dir: state\nsite_dir: {site.root}\n", encoding="utf-8"
    )
    result = run_feeds(*command, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (
        1,
        "error: state/state.sqlite3: cannot use the state database: malformed database schema "
        "(\\xbaounces) - incomplete input (restore it from a backup, or move it aside to start "
        "afresh; without it the next digest takes digest.first_window and may repeat the last "
        "digest's posts)\n",
    )


def test_a_digest_subject_that_is_no_template_stops_feeds_digest_with_one_line(site, tmp_path):
    (tmp_path / "config.yaml").write_text(
        f"site_dir: {site.root}\ndigest: {{subject: '{{{{ '}}\n", encoding="utf-8"
    )
    result = run_feeds("digest", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (
        2,
        "error: config.yaml: digest.subject: line 1: unexpected 'end of template' (got '{{ ')\n",
    )


def test_preview_into_a_missing_folder_is_a_usage_error(site, tmp_path):
    result = run_feeds(
        "digest", "--site", str(site.root), "--preview", str(tmp_path / "nope" / "p.html")
    )
    assert (result.returncode, result.stderr) == (
        2,
        f"error: --preview: {tmp_path / 'nope'}: folder not found\n",
    )
    assert not (tmp_path / "nope").exists()


def test_since_with_an_impossible_offset_is_a_usage_error(site):
    result = run_feeds(
        "digest", "--dry-run", "--site", str(site.root), "--since", "2022-05-24 08:00 +25:00"
    )
    assert (result.returncode, result.stderr) == (
        2,
        "error: --since: expected a date such as '2022-05-24 08:00', "
        "got '2022-05-24 08:00 +25:00'\n",
    )


def test_strict_prints_the_warnings_it_fails_on_before_the_error(site, tmp_path):
    site.post("2022-05-24-a.md")
    site.post("2022-05-24-b.md", text="---\ntitle: [x\n---\nbody\n")
    result = run_feeds(
        "build", "--strict", "--site", str(site.root), "--output", str(tmp_path / "o")
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{site.posts / '2022-05-24-b.md'}: skipped: front matter is not valid YAML at line 3: "
        "did not find expected ',' or ']'",
        "error: 1 warning(s) and --strict was given; no feed written",
    ]
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("file_name", ["config.yaml", "site/_config.yml"])
def test_deeply_nested_yaml_in_a_config_file_is_one_line_and_exit_2(site, tmp_path, file_name):
    (tmp_path / "config.yaml").write_text("site_dir: site\n", encoding="utf-8")
    path = tmp_path / file_name
    nested = "[" * 500 + "]" * 500
    path.write_text(f"{path.read_text(encoding='utf-8')}x: {nested}\n", encoding="utf-8")
    result = run_feeds("build", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: {file_name}: not valid YAML: lists or mappings nested too deeply "
        "(hundreds of levels)\n"
    )


def test_a_key_written_twice_in_config_yaml_is_one_line_each_and_exit_2(site, tmp_path):
    (tmp_path / "config.yaml").write_text(
        "site_dir: site\noutput: out\noutput: out2\ndigest:\n  smtp: {host: a, host: b}\n",
        encoding="utf-8",
    )
    result = run_feeds("build", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "error: config.yaml: line 3: output: written twice (first at line 2)\n"
        "error: config.yaml: line 5: digest.smtp.host: written twice (first at line 5)\n"
    )
    assert not (tmp_path / "out").exists() and not (tmp_path / "out2").exists()


def test_a_key_written_twice_in_config_yml_is_a_warning_and_the_last_wins_as_in_jekyll(
    site, tmp_path
):
    site.post("2022-05-24-a.md")
    site.config("title: First\nurl: https://example.org\nexclude: [a]\nexclude: [b]\ntitle: Last\n")
    result = run_feeds("build", "--site", str(site.root), "--output", str(tmp_path / "o"))
    assert result.returncode == 0
    assert result.stderr == (
        f"WARNING: {site.root / '_config.yml'}: line 5: title: written twice "
        "(first at line 1); using the last, as Jekyll does\n"
    )
    assert "<title>Last</title>" in (tmp_path / "o" / "atom.xml").read_text(encoding="utf-8")


def test_strict_refuses_a_build_whose_config_yml_gave_a_warning(site, tmp_path):
    site.post("2022-05-24-a.md")
    site.config("title: First\nurl: https://example.org\ntitle: Last\n")
    out = tmp_path / "o"
    result = run_feeds("build", "--strict", "--site", str(site.root), "--output", str(out))
    warning = (
        f"{site.root / '_config.yml'}: line 3: title: written twice "
        "(first at line 1); using the last, as Jekyll does"
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"WARNING: {warning}",
        "error: 1 warning(s) and --strict was given; no feed written",
    ]
    assert not out.exists()
