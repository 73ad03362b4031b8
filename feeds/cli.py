"""The ``feeds`` command: parse options, call one function, print one summary line.

User mistakes arrive here as FeedsError and leave as one line on stderr and
an exit code (1 failure, 2 usage or config); anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click

from feeds import __version__
from feeds.errors import FeedsError, StrictError

MAX_SIMILAR_WARNINGS = 5

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Settings file. Default: ./config.yaml if it exists.",
)
site_option = click.option(
    "--site",
    "site_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="The Jekyll site folder (holds _config.yml and _posts/). Overrides site_dir.",
)

output_option = click.option(
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder the feeds are written to. Overrides output.",
)


def run(function, *args, **kwargs):
    """Call a command's function and turn a FeedsError into one line and an exit code."""
    try:
        return function(*args, **kwargs)
    except FeedsError as exc:
        if click.get_current_context().find_root().params.get("debug"):
            raise
        if isinstance(exc, StrictError):  # the warnings it fails on, then why it failed
            verbose = bool(click.get_current_context().params.get("verbose"))
            print_warnings(exc.warnings, verbose=verbose)
        for line in str(exc).splitlines():
            click.echo(f"error: {line}", err=True)
        sys.exit(exc.exit_code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="feeds")
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
def main(debug: bool) -> None:
    """Per-category Atom, RSS and JSON feeds and a daily email digest for a Jekyll site.

    \b
    Example:
      feeds build --site examples/site --output public/feeds
    """
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s: %(message)s"
    )


@main.command()
@site_option
@config_option
@output_option
@click.option("--future", is_flag=True, help="Include posts dated in the future.")
@click.option(
    "--strict", is_flag=True, help="Treat any warning as an error: exit 1, write nothing."
)
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@click.option("-v", "--verbose", is_flag=True, help="Print every warning, not just the first few.")
def build(
    site_dir: Path | None,
    config_path: Path | None,
    output: Path | None,
    future: bool,
    strict: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Write per-category Atom, RSS and JSON feeds of a Jekyll site, and pages for people.

    \b
    Example:
      feeds build --site examples/site --output public/feeds
    """
    from feeds.site.prescan import Prescan

    started = time.perf_counter()
    prescan = Prescan.start(config_path, site_dir)  # first: it scans while the rest imports
    try:
        report = _build(config_path, site_dir, output, future, strict, quiet, prescan)
    finally:
        if prescan:
            prescan.close()
    if not quiet:
        print_warnings([str(p) for p in report.problems], verbose=verbose)
        seconds = time.perf_counter() - started
        click.echo(
            f"{report.posts} posts read, {report.skipped} skipped, {report.written} files written, "
            f"{report.unchanged} unchanged in {seconds:.2f}s"
        )
    if strict and report.problems:
        sys.exit(1)


def _build(config_path, site_dir, output, future, strict, quiet, prescan):
    from feeds.config import load_settings
    from feeds.output.build import build as build_feeds

    settings = run(load_settings, config_path, site_dir=site_dir, output=output)
    bar = ProgressBar() if not quiet and sys.stderr.isatty() else None
    try:
        with stopped_by_sigterm():
            return run(
                build_feeds,
                settings,
                now=datetime.now(UTC),
                future=future,
                strict=strict,
                track=bar,
                prescan=prescan,
            )
    finally:
        if bar:
            bar.close()


class Terminated(BaseException):
    """SIGTERM arrived. A BaseException, as KeyboardInterrupt is, so that no
    ``except Exception`` (a bad post's handler) takes it for a problem of the site."""


@contextmanager
def stopped_by_sigterm() -> Iterator[None]:
    """Stop on SIGTERM as its default action does, once the build has unwound.

    Raised as an exception in the main thread, the signal unwinds the build as
    Ctrl-C does: the staged files it holds are removed and the pool is shut
    down (batches already running finish first; temporaries they write are
    swept by the next build, as after a kill). Then the process ends by the
    same signal, so ``timeout``, cron and systemd see what they saw without the
    handler (status 143 in a shell), as ``feeds digest`` ends. A second SIGTERM
    during the clean-up ends it at once; the workers still follow it (see
    ``feeds.output.parallel.follow_the_build``).
    """

    def stop(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise Terminated

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    except Terminated:
        click.echo("error: stopped by SIGTERM", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        sys.exit(128 + signal.SIGTERM)  # only if the signal is blocked
    finally:
        signal.signal(signal.SIGTERM, previous)


def print_warnings(lines: Sequence[str], *, verbose: bool) -> None:
    """Print each warning once; collapse long runs of the same kind after a few."""
    shown: Counter[str] = Counter()
    hidden: Counter[str] = Counter()
    for line in lines:
        kind = warning_kind(line)
        if verbose or shown[kind] < MAX_SIMILAR_WARNINGS:
            shown[kind] += 1
            click.echo(line, err=True)
        else:
            hidden[kind] += 1
    for kind, count in hidden.items():
        click.echo(f"... and {count} more like '{kind}' (-v shows all)", err=True)


def warning_kind(line: str) -> str:
    """The reason without the file name and quoted values, to group similar warnings."""
    reason = line.split(": ", 1)[-1]
    return reason.split(" (", 1)[0].split(";", 1)[0].split(" '", 1)[0]


class ProgressBar:
    """A rich progress bar on stderr while many post files are read; nothing otherwise."""

    def __init__(self):
        self.progress = None

    def __call__(self, total: int):
        from rich.console import Console
        from rich.progress import Progress

        self.progress = Progress(console=Console(stderr=True), transient=True)
        self.progress.start()
        task = self.progress.add_task("Reading posts", total=total)
        return lambda done: self.progress.advance(task, done)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def parse_since(value: str | None, settings) -> datetime | None:
    from feeds.errors import ConfigError
    from feeds.site.collect import parse_date

    if value is None:
        return None
    try:
        moment = parse_date(value, settings.site.timezone)
    except (ValueError, OverflowError):  # an offset such as +25:00, a year out of range
        moment = None
    if moment is None:
        raise ConfigError(f"--since: expected a date such as '2022-05-24 08:00', got {value!r}")
    return moment


def check_preview_only(*, to: str | None, preview: Path | None) -> None:
    """``--to`` picks whose digest a preview shows; without ``--preview`` the run would send
    to every subscriber, the opposite of what someone naming one address means."""
    from feeds.errors import ConfigError

    if to is not None and preview is None:
        raise ConfigError("--to: only with --preview; without it the digest goes to everyone")


@main.command()
@config_option
@site_option
@click.option(
    "--preview",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the digest's inlined HTML to this file; send and record nothing.",
)
@click.option(
    "--to", "to", metavar="ADDRESS", help="With --preview: the digest of this subscriber."
)
@click.option(
    "--dry-run", is_flag=True, help="List each recipient, subject and item count; send nothing."
)
@click.option(
    "--since",
    metavar="DATETIME",
    help="Take every post after this time (site timezone unless an offset is given), "
    "even posts an earlier digest carried.",
)
def digest(
    config_path: Path | None,
    site_dir: Path | None,
    preview: Path | None,
    to: str | None,
    dry_run: bool,
    since: str | None,
) -> None:
    """Send the daily email digest of new posts to every subscriber, exactly once.

    \b
    Examples:
      feeds digest --preview digest.html
      feeds digest --dry-run
      feeds digest
    """
    from feeds.config import load_settings
    from feeds.newsletter import dispatch

    run(check_preview_only, to=to, preview=preview)
    settings = run(load_settings, config_path, site_dir=site_dir)
    start = run(parse_since, since, settings)
    now = datetime.now(UTC)
    if preview:
        report = run(dispatch.preview, settings, preview, now=now, since=start, to=to)
        click.echo(f"wrote {preview} ({report.posts} new posts)")
        return
    if dry_run:
        report = run(dispatch.dry_run, settings, now=now, since=start)
        for line in report.lines:
            click.echo(line)
        click.echo(
            f"{len(report.lines)} would be sent, {report.skipped} skipped (dry run, nothing sent)"
        )
        return
    report = run(
        dispatch.send_digest, settings, now=now, since=start, clock=lambda: datetime.now(UTC)
    )
    if report.error:
        click.echo(f"error: {report.error}", err=True)
    if report.key is None and not report.sent:
        click.echo(f"no new posts for any subscriber; nothing sent ({report.skipped} skipped)")
        return
    click.echo(report.summary)
    if not report.ok:
        sys.exit(1)


def setup_schedule_logging(log_file: Path | None) -> None:
    """One line per job run, with a timestamp, to stderr and optionally to a file."""
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("feeds").setLevel(logging.INFO)


@main.command()
@config_option
@site_option
@output_option
@click.option("--once", is_flag=True, help="Run every job once now, then exit.")
@click.option(
    "--list", "list_jobs", is_flag=True, help="Print the jobs and their next runs, then exit."
)
@click.option(
    "--log-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also append the log to this file.",
)
def schedule(
    config_path: Path | None,
    site_dir: Path | None,
    output: Path | None,
    once: bool,
    list_jobs: bool,
    log_file: Path | None,
) -> None:
    """Keep the feeds fresh and send the digest on time, until stopped.

    Rebuilds the feeds every schedule.build_every and sends the digest at
    schedule.digest_cron (in the site's timezone). Stop it with SIGTERM or
    Ctrl-C: a running job finishes first.

    \b
    Examples:
      feeds schedule --list
      feeds schedule --log-file /var/log/feeds.log
      feeds schedule --once
    """
    from feeds import schedule as scheduling
    from feeds.config import load_settings

    settings = run(load_settings, config_path, site_dir=site_dir, output=output)
    args = tuple(str(value) if value else None for value in (config_path, site_dir, output))
    if list_jobs:
        for spec, when in run(scheduling.next_runs, settings, args):
            click.echo(f"{spec.id:<8} {spec.describe:<36} next run {when}")
        return
    setup_schedule_logging(log_file)
    if once:
        sys.exit(0 if run(scheduling.run_once, settings, args) else 1)
    run(scheduling.serve, settings, args)


@main.command()
@config_option
@click.option("--host", metavar="HOST", help="Address to listen on. Overrides web.host.")
@click.option(
    "--port", type=click.IntRange(1, 65535), metavar="PORT", help="Port. Overrides web.port."
)
def serve(config_path: Path | None, host: str | None, port: int | None) -> None:
    """Serve the readers' pages: subscribe, confirm, preferences, one-click unsubscribe.

    Runs until SIGTERM or Ctrl-C; requests in flight finish first. The signing
    key comes from the environment variable named by web.secret_env.

    \b
    Example:
      FEEDS_SECRET=... feeds serve --port 8080
    """
    from feeds.config import load_settings
    from feeds.web.server import serve as serve_web

    settings = run(load_settings, config_path)
    run(serve_web, settings, host=host, port=port, announce=lambda line: click.echo(line, err=True))


@main.group()
def subscribers() -> None:
    """List, add, remove, import and export the digest's subscribers.

    \b
    Examples:
      feeds subscribers list
      feeds subscribers add reader@example.com --categories "kejiribao emnews"
      feeds subscribers export > subscribers.csv
    """


def _store(config_path: Path | None):
    return _settings_and_store(config_path)[1]


def _settings_and_store(config_path: Path | None):
    from feeds.config import load_settings
    from feeds.newsletter.subscribers import SubscriberStore

    settings = run(load_settings, config_path)
    return settings, run(SubscriberStore, settings.state_dir)


@subscribers.command("list")
@config_option
@click.option(
    "--status",
    type=click.Choice(["pending", "active", "unsubscribed", "bounced", "complained"]),
    help="Only subscribers with this status.",
)
def subscribers_list(config_path: Path | None, status: str | None) -> None:
    """Print each subscriber: address, status, categories, name (tab-separated).

    \b
    Example:
      feeds subscribers list --status active
    """
    from feeds.newsletter.roster import describe

    store = _store(config_path)
    shown = [s for s in store.all() if status is None or s.status == status]
    for subscriber in shown:
        click.echo(describe(subscriber))
    counts = Counter(s.status for s in shown)
    summary = ", ".join(f"{counts[k]} {k}" for k in sorted(counts))
    click.echo(f"{len(shown)} subscribers" + (f" ({summary})" if summary else ""))


@subscribers.command("add")
@config_option
@click.argument("email")
@click.option("--name", help="The reader's name, shown in the To: header.")
@click.option(
    "--categories", metavar="NAMES", help="Space-separated categories. Default: all categories."
)
def subscribers_add(
    config_path: Path | None, email: str, name: str | None, categories: str | None
) -> None:
    """Add an active subscriber (no confirmation mail: you vouch for their consent).

    An address that unsubscribed, bounced or complained is not re-activated.
    For a subscriber already active, only the options given change anything:
    categories and name a reader chose stay unless you name new ones.

    \b
    Example:
      feeds subscribers add reader@example.com --name 读者 --categories kejiribao
    """
    from feeds.newsletter.roster import categories_text, categories_without_posts, parse_categories
    from feeds.newsletter.subscribers import Origin
    from feeds.output.build import current_posts

    settings, store = _settings_and_store(config_path)
    known = store.by_email(email)
    wanted = parse_categories(categories)
    if known is not None and known.status == "active":
        name = known.name if name is None else name
        wanted = known.categories if categories is None else wanted
    subscriber, changed = run(store.add, email, name, wanted, Origin("cli"), datetime.now(UTC))
    if subscriber is None:
        click.echo(f"{email} is suppressed (it left or was forgotten); not added", err=True)
        sys.exit(1)
    if subscriber.status != "active":
        click.echo(f"{subscriber.email} is {subscriber.status}; not re-activated", err=True)
        sys.exit(1)
    what = "unchanged" if not changed else "added" if known is None else "updated"
    click.echo(f"{what}: {subscriber.email} ({categories_text(subscriber.categories)})")
    if categories is not None and subscriber.categories:  # a typo would leave them no news
        posts = run(current_posts, settings, now=datetime.now(UTC))
        for unknown in categories_without_posts(subscriber.categories, posts):
            click.echo(
                f"warning: no published post is in category {unknown}; {subscriber.email} gets "
                "nothing from it until one is",
                err=True,
            )


@subscribers.command("remove")
@config_option
@click.argument("email")
@click.option(
    "--forget", is_flag=True, help="Also delete the record (the address stays suppressed)."
)
def subscribers_remove(config_path: Path | None, email: str, forget: bool) -> None:
    """Unsubscribe an address: it gets no more mail, whatever any list says.

    \b
    Example:
      feeds subscribers remove reader@example.com --forget
    """
    from feeds.newsletter.subscribers import Origin

    store = _store(config_path)
    subscriber = store.by_email(email)
    if subscriber is None:
        click.echo(f"error: {email}: not a subscriber", err=True)
        sys.exit(1)
    now = datetime.now(UTC)
    store.unsubscribe(subscriber.id, Origin("cli"), now)
    if forget:
        store.forget(subscriber.id, now)
        click.echo(f"forgot {subscriber.email}; the address stays suppressed")
    else:
        click.echo(f"unsubscribed {subscriber.email}")


@subscribers.command("import")
@config_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def subscribers_import(config_path: Path | None, file: Path) -> None:
    """Add subscribers from a CSV file with columns email, name, categories (and status).

    Rows whose status is unsubscribed, bounced or complained suppress their
    address; nothing in the file re-activates an address that left.

    \b
    Example:
      feeds subscribers import subscribers.csv
    """
    from feeds.newsletter.roster import import_csv

    store = _store(config_path)
    report = run(import_csv, store, file, datetime.now(UTC))
    for line in report.problems:
        click.echo(line, err=True)
    click.echo(
        f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.kept} left as they were (unsubscribed, bounced or complained), "
        f"{report.suppressed} suppressed, {len(report.problems)} rows refused"
    )
    if report.problems:
        sys.exit(1)


@subscribers.command("export")
@config_option
def subscribers_export(config_path: Path | None) -> None:
    """Write every subscriber, whatever the status, as CSV to stdout.

    \b
    Example:
      feeds subscribers export > subscribers.csv
    """
    from feeds.newsletter.roster import export_csv

    store = _store(config_path)
    click.echo(export_csv(store.all()), nl=False)


@main.command()
@config_option
@click.option(
    "--maildir",
    type=click.Path(path_type=Path, file_okay=False),
    help="The Maildir bounces arrive in. Overrides bounces.maildir.",
)
def bounces(config_path: Path | None, maildir: Path | None) -> None:
    """Read bounces and complaints and stop mailing the addresses they name.

    A hard bounce or a complaint suppresses the address; soft bounces do when
    3 of the subscriber's last 5 digests bounced. Each mail is read once.

    \b
    Example:
      feeds bounces --maildir /var/mail/bounces
    """
    from feeds.config import load_settings
    from feeds.newsletter.bounces import process_bounces

    settings = run(load_settings, config_path)
    report = run(process_bounces, settings, maildir, datetime.now(UTC))
    click.echo(report.summary())


@main.command()
@click.argument(
    "directory", default=".", type=click.Path(path_type=Path, file_okay=False, exists=True)
)
@click.option(
    "--templates", is_flag=True, help="Also copy the default templates into the site, to edit."
)
def init(directory: Path, templates: bool) -> None:
    """Write a commented config.yaml for an existing Jekyll site (default: this folder).

    \b
    Examples:
      feeds init
      feeds init path/to/site --templates
    """
    from feeds.scaffold import init_site

    report = run(init_site, directory, templates=templates)
    categories = plural(report.categories, "category", "categories")
    click.echo(f"wrote {report.config}: {categories} from {plural(report.post_files, 'post file')}")
    if report.templates:
        click.echo(f"copied {len(report.templates)} templates into {report.templates[0].parent}")
    option = "" if report.config == Path("config.yaml") else f" --config {report.config}"
    click.echo(f"next: edit {report.config} (display names, digest), then:")
    click.echo(f"  feeds check{option}")
    click.echo(f"  feeds build{option}")


@main.command()
@config_option
@click.option(
    "--smtp",
    "try_smtp",
    is_flag=True,
    help="Also connect to the SMTP server and see whether it accepts us; send no mail.",
)
def check(config_path: Path | None, try_smtp: bool) -> None:
    """Check everything a run needs, writing nothing; list every problem.

    \b
    Examples:
      feeds check
      feeds check --config /srv/feeds/config.yaml --smtp
    """
    from feeds.check import check as check_all

    report = run(check_all, config_path, now=datetime.now(UTC), smtp=try_smtp)
    for line in report.summary:
        click.echo(line)
    for problem in report.problems:
        click.echo(f"error: {problem}", err=True)
    if not report.ok:
        click.echo(f"{plural(len(report.problems), 'problem')} found", err=True)
        sys.exit(2)
    click.echo("no problems found")


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word if count == 1 else words or word + 's'}"
