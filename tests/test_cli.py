"""The command line: exact output, meaningful exit codes, no tracebacks for user errors."""

from __future__ import annotations

import subprocess

import pytest
from click.testing import CliRunner

from feeds.cli import main
from tests.conftest import feeds_args


def today_in_shanghai() -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d")


COMMANDS = [[], ["build"], ["digest"], ["schedule"]]


def run_feeds(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """The real console entry point in a child process, as an operator runs it."""
    return subprocess.run(feeds_args(*args), capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_works_for_every_command(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output


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
        ": 2 sent, 1 skipped, 0 failed, 0 left for the next run\n"
    )
    assert len(smtp_server.messages) == 2


def test_bad_since_is_a_usage_error(example_site):
    result = run_feeds("digest", "--dry-run", "--site", str(example_site), "--since", "yesterday")
    assert result.returncode == 2
    assert (
        result.stderr
        == "error: --since: expected a date such as '2022-05-24 08:00', got 'yesterday'\n"
    )
