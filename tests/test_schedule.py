"""`feeds schedule` as a real process: fast intervals, a real SMTP server, real signals."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from feeds.newsletter.state import State
from tests.conftest import ROOT, feeds_args, recent, wait_for

SHANGHAI = ZoneInfo("Asia/Shanghai")


def schedule_config(
    port: int | None = None,
    cron: str = "0 8 * * *",
    every: str = "1s",
    subscribers: int = 1,
    extra: str = "",
) -> str:
    transport = (
        f"  transport: smtp\n  smtp: {{host: 127.0.0.1, port: {port}, security: none, "
        "retries: 0, backoff: 0}\n"
        if port
        else ""
    )
    people = "".join(
        f"    - {{email: r{n}@example.com, categories: all}}\n" for n in range(subscribers)
    )
    return (
        f"state_dir: state\noutput: out\n"
        f"schedule: {{build_every: {every}, digest_cron: '{cron}', misfire_grace: 1h}}\n{extra}"
        f"digest:\n  templates_dir: {ROOT / 'templates'}\n{transport}  subscribers:\n{people}"
    )


def test_feeds_appear_and_are_rebuilt_when_a_post_is_added(site, service, tmp_path):
    site.post("2026-11-28-first.md", title="第一篇", date=recent(60))
    running = service(schedule_config()).start()
    feed = tmp_path / "out" / "category" / "kejiribao" / "atom.xml"
    wait_for(lambda: feed.exists() and "第一篇" in feed.read_text(encoding="utf-8"))
    site.post("2026-11-28-second.md", title="第二篇", date=recent(30))
    wait_for(lambda: "第二篇" in feed.read_text(encoding="utf-8"))
    assert running.stop() == 0
    assert running.lines("build")[0].endswith(
        "1 posts read, 0 skipped, 9 files written, 0 unchanged"
    )
    assert "stopped" in running.text()


def test_the_digest_arrives_on_its_cron_time(site, service, smtp_server):
    site.post("2026-11-28-news.md", title="要闻", date=recent(60))
    running = service(schedule_config(smtp_server.port, cron="*/2 * * * * *", every="1h")).start()
    wait_for(lambda: smtp_server.messages)
    assert running.stop() == 0
    message = smtp_server.parsed()[0]
    assert "要闻" in message.get_body(("html",)).get_content()
    assert "digest: started" in running.text() and "1 sent" in running.text()


def test_sigterm_during_a_digest_stops_between_recipients_and_exits_0(
    site, service, smtp_server, tmp_path
):
    site.post("2026-11-28-news.md", title="要闻", date=recent(60))
    smtp_server.delay = 0.4
    running = service(
        schedule_config(smtp_server.port, cron="*/2 * * * * *", every="1h", subscribers=24)
    ).start()
    wait_for(lambda: len(smtp_server.messages) >= 1)
    assert running.stop() == 0
    sent = len(smtp_server.messages)
    assert 1 <= sent < 24  # each of the 4 connections finishes the message it is sending
    state = State(tmp_path / "state")
    digest = state.unfinished_digest()
    assert digest is not None
    counts = state.counts(digest)
    assert counts == {"sent": sent, "pending": 24 - sent}
    state.close()


def test_a_restart_after_a_missed_cron_time_runs_the_digest_exactly_once(
    site, service, smtp_server
):
    site.post("2026-11-28-news.md", title="要闻", date=recent(60))
    wait_for(lambda: datetime.now(SHANGHAI).second < 50, timeout=15)
    soon = datetime.now(SHANGHAI) + timedelta(seconds=4)
    later = soon + timedelta(seconds=1)
    # two fire times, both inside the downtime: they coalesce into one run
    cron = f"{soon.second},{later.second} {soon.minute} {soon.hour} * * *"
    config = schedule_config(smtp_server.port, cron=cron, every="1h")
    first = service(config).start()
    assert first.stop() == 0
    assert first.lines("digest") == []
    wait_for(lambda: datetime.now(SHANGHAI) > later + timedelta(seconds=1), timeout=10)
    second = service(config).start()
    wait_for(lambda: second.lines("digest"))
    time.sleep(1.5)
    assert second.stop() == 0
    assert len(second.lines("digest")) == 1
    assert len(smtp_server.messages) == 1


def test_a_failing_job_is_logged_and_the_next_run_still_happens(site, service, tmp_path):
    site.post("2026-11-28-a.md", title="甲", date=recent(60))
    hidden = site.root / "_posts_away"
    # the interval job's failure is under test: the watcher would race it to the renamed folder
    sweep_only = schedule_config(every="1s").replace("digest_cron", "watch: false, digest_cron")
    running = service(sweep_only).start()
    wait_for(lambda: running.lines("build"))
    site.posts.rename(hidden)
    wait_for(lambda: any("failed: " in line for line in running.lines("build")))
    hidden.rename(site.posts)
    failures = len([line for line in running.lines("build") if "failed" in line])
    wait_for(
        lambda: (
            "posts read" in running.lines("build")[-1]
            and len(running.lines("build")) > failures + 1
        )
    )
    assert running.stop() == 0
    failed = next(line for line in running.lines("build") if "failed" in line)
    assert failed.endswith(f"failed: {site.root}: no _posts folder in the site")
    assert "Traceback" not in running.text()


def test_a_second_scheduler_on_the_same_state_dir_exits_at_once(site, service):
    site.post("2026-11-28-a.md", title="甲", date=recent(60))
    running = service(schedule_config(every="1h")).start()
    second = subprocess.run(running.command(), capture_output=True, text=True, timeout=30)
    assert second.returncode == 3
    assert second.stderr.startswith("error: another feeds schedule for this state_dir is running")
    assert running.stop() == 0


def test_list_shows_next_runs_in_the_site_timezone_with_crontab_weekdays(site, tmp_path):
    site.config("title: t\nurl: https://example.org\ntimezone: Asia/Shanghai\n")
    site.post("2026-11-28-a.md")
    config = tmp_path / "config.yaml"
    config.write_text(schedule_config(cron="0 8 * * 0", every="10m"), encoding="utf-8")
    result = subprocess.run(
        feeds_args("schedule", "--list", "--config", str(config), "--site", str(site.root)),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    build_line, digest_line = result.stdout.splitlines()
    assert build_line.startswith("build    every 10m")
    assert digest_line.startswith("digest   cron '0 8 * * 0' (Asia/Shanghai)")
    when = datetime.strptime(digest_line.rsplit("next run ", 1)[1], "%Y-%m-%d %H:%M:%S CST")
    assert when.strftime("%A %H:%M") == "Sunday 08:00"


def test_once_runs_every_job_and_exits(site, tmp_path, smtp_server):
    site.post("2026-11-28-news.md", title="要闻", date=recent(60))
    config = tmp_path / "config.yaml"
    config.write_text(schedule_config(smtp_server.port), encoding="utf-8")
    result = subprocess.run(
        feeds_args("schedule", "--once", "--config", str(config), "--site", str(site.root)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert " build: started " in result.stderr and " digest: started " in result.stderr
    assert (tmp_path / "out" / "atom.xml").exists() and len(smtp_server.messages) == 1


def test_the_bounces_job_runs_when_configured(site, tmp_path):
    import mailbox

    from feeds.newsletter.subscribers import Origin, SubscriberStore
    from tests.test_bounces import dsn

    config = tmp_path / "config.yaml"
    config.write_text(
        "state_dir: state\noutput: out\nbounces: {maildir: box}\n"
        "schedule: {build: false, digest: false, bounces_every: 1h}\n",
        encoding="utf-8",
    )
    store = SubscriberStore(tmp_path / "state")
    store.add("gone@example.com", None, None, Origin("cli"), datetime.now(UTC))
    mailbox.Maildir(tmp_path / "box", create=True).add(
        dsn("digest@example.org", "gone@example.com", "5.1.1")
    )
    args = ("--config", str(config), "--site", str(site.root))
    listed = subprocess.run(feeds_args("schedule", "--list", *args), capture_output=True, text=True)
    assert listed.stdout.startswith("bounces  every 1h")
    result = subprocess.run(
        feeds_args("schedule", "--once", *args), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "1 mails read: 1 hard bounces" in result.stderr
    assert store.by_email("gone@example.com").status == "bounced"
