"""``feeds schedule``: one long-running process that rebuilds the feeds and sends the digest.

APScheduler 3 runs the same functions as ``feeds build`` and ``feeds digest``.
Its job store is SQLite in the state directory, so a restart knows which run
it missed and makes it up (once, however many were missed) within the grace
period. The traps of APScheduler 3 are handled here: the default one-second
misfire grace would silently skip a digest after a late wake-up, two
schedulers on one job store would run each job twice (a lock allows one), and
its cron weekdays start on Monday (see ``feeds.cron``).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from feeds.config import Settings, format_duration, load_settings
from feeds.cron import parse_cron
from feeds.errors import FeedsError
from feeds.locking import exclusive_lock
from feeds.watch import start_watcher

log = logging.getLogger("feeds.schedule")

#: Set when SIGTERM or SIGINT arrives: the digest stops between two recipients.
stopping = threading.Event()


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: what it runs, when, and a signature to notice config changes."""

    id: str
    function: str  # a textual reference, so the SQLite job store can keep the job
    trigger: CronTrigger | IntervalTrigger
    args: tuple
    describe: str

    @property
    def signature(self) -> str:
        return f"{self.describe} | {self.trigger!s} | {self.trigger.timezone} | {self.args}"


def job_specs(settings: Settings, args: tuple) -> list[JobSpec]:
    options = settings.raw.schedule
    tz = settings.site.timezone
    specs = []
    if options.build:
        seconds = options.build_every.total_seconds()
        specs.append(
            JobSpec(
                "build",
                "feeds.schedule:build_job",
                IntervalTrigger(seconds=seconds, timezone=tz),
                args,
                f"every {format_duration(options.build_every)}",
            )
        )
    if options.digest:
        specs.append(
            JobSpec(
                "digest",
                "feeds.schedule:digest_job",
                CronTrigger(**parse_cron(options.digest_cron), timezone=tz),
                args,
                f"cron '{options.digest_cron}' ({tz.key})",
            )
        )
    if options.bounces_every and settings.bounces_maildir:
        specs.append(
            JobSpec(
                "bounces",
                "feeds.schedule:bounces_job",
                IntervalTrigger(seconds=options.bounces_every.total_seconds(), timezone=tz),
                args,
                f"every {format_duration(options.bounces_every)}",
            )
        )
    return specs


def timed(name: str, work: Callable[[], str]) -> bool:
    """Run one job and log exactly one line about it: start, duration, result."""
    started = datetime.now(UTC)
    clock = time.perf_counter()
    try:
        result = work()
    except FeedsError as exc:
        log.error(
            "%s: started %s, %.2fs, failed: %s",
            name,
            started.isoformat(timespec="seconds"),
            time.perf_counter() - clock,
            str(exc).replace("\n", "; "),
        )
        return False
    log.info(
        "%s: started %s, %.2fs, %s",
        name,
        started.isoformat(timespec="seconds"),
        time.perf_counter() - clock,
        result,
    )
    return True


def _settings(config: str | None, site: str | None, output: str | None) -> Settings:
    return load_settings(
        Path(config) if config else None,
        site_dir=Path(site) if site else None,
        output=Path(output) if output else None,
    )


def build_job(config: str | None, site: str | None, output: str | None) -> bool:
    """The scheduled ``feeds build``: config is read afresh, so edits apply at the next run."""
    from feeds.output.build import build

    def work() -> str:
        report = build(_settings(config, site, output), now=datetime.now(UTC))
        return (
            f"{report.posts} posts read, {report.skipped} skipped, "
            f"{report.written} files written, {report.unchanged} unchanged"
        )

    return timed("build", work)


def digest_job(config: str | None, site: str | None, output: str | None) -> bool:
    """The scheduled ``feeds digest``; it stops between two recipients on SIGTERM."""
    from feeds.newsletter.dispatch import send_digest

    def work() -> str:
        report = send_digest(
            _settings(config, site, output),
            now=datetime.now(UTC),
            clock=lambda: datetime.now(UTC),
            should_stop=stopping.is_set,
        )
        if report.key is None:
            return "no new posts; nothing sent"
        text = report.summary
        if report.error or report.stopped:
            raise FeedsError(f"{text} ({report.error or 'stopped by a signal'})")
        return text

    return timed("digest", work)


def bounces_job(config: str | None, site: str | None, output: str | None) -> bool:
    """The scheduled ``feeds bounces``: suppress what bounced since the last run."""
    from feeds.newsletter.bounces import process_bounces

    def work() -> str:
        settings = _settings(config, site, output)
        return process_bounces(settings, None, datetime.now(UTC)).summary()

    return timed("bounces", work)


JOBS = {"build": build_job, "digest": digest_job, "bounces": bounces_job}


def make_scheduler(settings: Settings) -> BackgroundScheduler:
    url = f"sqlite:///{(settings.state_dir / 'schedule.sqlite3').resolve()}"
    grace = int(settings.raw.schedule.misfire_grace.total_seconds())
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=url)},
        executors={"default": ThreadPoolExecutor(max_workers=2)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
        timezone=settings.site.timezone,
    )
    scheduler.add_listener(log_crash, EVENT_JOB_ERROR)
    return scheduler


def log_crash(event: JobExecutionEvent) -> None:
    """A bug in a job (not a user error, which the job logs itself) must not stop the others."""
    log.error("%s: crashed: %r", event.job_id, event.exception)


def sync_jobs(scheduler: BackgroundScheduler, specs: list[JobSpec]) -> None:
    """Keep stored jobs, and so the runs they missed, unless the config changed them."""
    wanted = {spec.id for spec in specs}
    for job in scheduler.get_jobs():
        if job.id not in wanted:
            job.remove()
    for spec in specs:
        job = scheduler.get_job(spec.id)
        if job is not None and job.name == spec.signature:
            continue
        scheduler.add_job(
            spec.function,
            trigger=spec.trigger,
            args=spec.args,
            id=spec.id,
            name=spec.signature,
            replace_existing=True,
        )


def next_runs(settings: Settings, args: tuple) -> list[tuple[JobSpec, str]]:
    """Each job and its next run in the site's timezone, as the running service sees it."""
    specs = job_specs(settings, args)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    scheduler = make_scheduler(settings)
    scheduler.start(paused=True)
    try:
        now = datetime.now(settings.site.timezone)
        result = []
        for spec in specs:
            job = scheduler.get_job(spec.id)
            if job is not None and job.name == spec.signature:
                when = job.next_run_time
            else:
                when = spec.trigger.get_next_fire_time(None, now)
            result.append((spec, when_text(when, settings)))
        return result
    finally:
        scheduler.shutdown(wait=False)


def when_text(when: datetime | None, settings: Settings) -> str:
    if when is None:
        return "never"
    return when.astimezone(settings.site.timezone).strftime("%Y-%m-%d %H:%M:%S %Z")


def run_once(settings: Settings, args: tuple) -> bool:
    """Every enabled job once, now, one after the other (for cron users and checks)."""
    ok = True
    for spec in job_specs(settings, args):
        ok = JOBS[spec.id](*args) and ok
    return ok


def serve(settings: Settings, args: tuple) -> None:
    """Run until SIGTERM or SIGINT; let a running job finish, then return."""
    with exclusive_lock(settings.state_dir, "schedule.lock", "feeds schedule for this state_dir"):
        stopping.clear()
        specs = job_specs(settings, args)
        scheduler = make_scheduler(settings)
        scheduler.start(paused=True)
        sync_jobs(scheduler, specs)
        for spec in specs:
            job = scheduler.get_job(spec.id)
            when = (
                job.next_run_time.astimezone(settings.site.timezone) if job.next_run_time else None
            )
            log.info("%s: %s, next run %s", spec.id, spec.describe, when)

        def stop(signum: int, frame: object) -> None:
            log.info("received %s; finishing the running job", signal.Signals(signum).name)
            stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        scheduler.resume()
        watcher = watch_posts_if_asked(settings, args)
        while not stopping.wait(1):
            pass
        scheduler.shutdown(wait=True)
        if watcher is not None:
            watcher.join()
        log.info("stopped")


def watch_posts_if_asked(settings: Settings, args: tuple) -> threading.Thread | None:
    """Build whenever `_posts/` settles after a change, beside the interval sweep."""
    options = settings.raw.schedule
    if not (options.build and options.watch):
        return None
    posts = settings.site_dir / "_posts"
    log.info(
        "watch: %s, building %s after the last change", posts, format_duration(options.watch_settle)
    )
    return start_watcher(posts, lambda changes: build_job(*args), stopping, options.watch_settle)
