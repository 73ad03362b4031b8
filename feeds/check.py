"""``feeds check``: everything a run needs, checked in one go, without writing anything.

Every problem is reported, one line each, so a new config is fixed in one
round: config.yaml's own problems do not hide those of _config.yml, the
templates, the secrets or the folders (a broken key is left at its default
while the rest is checked). Nothing here creates, writes or locks a file;
``--smtp`` talks to the server but sends no mail.
"""

from __future__ import annotations

import copy
import logging
import os
import smtplib
import sqlite3
import ssl
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes
from pydantic import ValidationError

from feeds.config import (
    DEFAULT_CONFIG,
    ConfigFile,
    Settings,
    SmtpOptions,
    describe_validation_errors,
    folder_problem,
    read_unique_mapping,
    resolve_paths,
    settings_from,
    short_key,
)
from feeds.errors import ConfigError, DeliveryError
from feeds.templating import environment, template_folders

log = logging.getLogger(__name__)

REQUIRED_TEMPLATES = ("digest.html", "digest.txt", "pages/index.html", "pages/category.html")
MAX_PRUNING_ROUNDS = 5


@dataclass
class CheckReport:
    """What ``feeds check`` found: problems (one line each) and a short summary."""

    problems: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)

    def note(self, label: str, text: str) -> None:
        self.summary.append(f"{label + ':':<13}{text}")

    @property
    def ok(self) -> bool:
        return not self.problems


def check(config_path: Path | None, *, now: datetime, smtp: bool = False) -> CheckReport:
    """Check config.yaml, the site, templates, secrets and folders; with ``smtp``, the server."""
    report = CheckReport()
    found = read_config(config_path, report)
    if found is None:
        return report
    raw, config_path = found

    def at(key: str) -> str:
        return f"{config_path}: {key}" if config_path else key

    paths = resolve_paths(raw, config_path)
    try:
        settings: Settings | None = settings_from(raw, config_path, check_folders=False)
    except ConfigError as exc:
        report.problems += str(exc).splitlines()
        settings = None
    if settings is not None:
        summarize_site(settings, report, now)
    report.problems += template_problems(paths.templates_dir, at, report)
    report.problems += secret_problems(raw, at)
    report.problems += transport_problems(raw, at)
    for key, folder in (("state_dir", paths.state_dir), ("output", paths.output)):
        problem = folder_problem(folder)
        if problem:
            report.problems.append(f"{at(key)}: {problem}")
    report.note("folders", f"state {paths.state_dir}, output {paths.output}")
    if smtp:
        sender = settings.sender.addr_spec if settings else None
        problem, text = probe_smtp(
            raw.digest.smtp, sender, credentials=not secret_problems(raw, at)
        )
        report.note("smtp", text)
        if problem:
            report.problems.append(problem)
    return report


def read_config(
    config_path: Path | None, report: CheckReport
) -> tuple[ConfigFile, Path | None] | None:
    """The config (its broken keys left at their defaults) and its path; None if unreadable."""
    explicit = config_path is not None
    path = config_path if config_path is not None else DEFAULT_CONFIG
    if not path.is_file():
        if explicit:
            report.problems.append(f"{path}: file not found")
            return None
        report.note("config", f"no {DEFAULT_CONFIG} here; built-in defaults")
        return ConfigFile(), None
    try:
        data = read_unique_mapping(path)
    except ConfigError as exc:
        report.problems += str(exc).splitlines()
        return None
    raw, problems = validate_leniently(data)
    report.problems += [f"{path}: {problem}" for problem in problems]
    report.note("config", str(path))
    return raw, path


def validate_leniently(data: dict[str, Any]) -> tuple[ConfigFile, list[str]]:
    """The config with every broken key dropped (so the rest is still checked), and the problems."""
    try:
        return ConfigFile.model_validate(data), []
    except ValidationError as exc:
        problems = describe_validation_errors(exc)
        errors = exc.errors()
    pruned = copy.deepcopy(data)
    for _ in range(MAX_PRUNING_ROUNDS):
        for error in sorted(errors, key=lambda e: [str(part) for part in e["loc"]], reverse=True):
            drop(pruned, error["loc"])
        try:
            return ConfigFile.model_validate(pruned), problems
        except ValidationError as exc:
            errors = exc.errors()
    return ConfigFile(), problems


def drop(data: Any, loc: tuple[int | str, ...]) -> None:
    """Remove the deepest part of ``data`` that ``loc`` reaches (a missing key takes its parent)."""
    parent: Any = None
    key: Any = None
    node = data
    for part in loc:
        if not contains(node, part):
            break
        parent, key, node = node, part, node[part]
    if parent is not None:
        del parent[key]


def contains(node: Any, part: int | str) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def summarize_site(settings: Settings, report: CheckReport, now: datetime) -> None:
    """What a run would work on: the site, its posts and categories, the feeds, the readers."""
    from feeds.output.build import current_posts
    from feeds.output.plan import bounds_of, feed_specs, newest_groups
    from feeds.site.scan import scan

    site = settings.site
    report.note("site", f"{site.title} {site.root} (folder {settings.site_dir})")
    try:
        posts = current_posts(settings, now=now)
    except ConfigError as exc:
        report.problems.append(str(exc))
        return
    files = len(scan(settings.posts_dir).names)
    categories = {name for post in posts for name in post.categories}
    report.note("posts", f"{files} post files, {len(posts)} published")
    report.note("categories", str(len(categories)))
    specs, _ = feed_specs(settings, newest_groups(posts, bounds_of(settings), settings.feeds.tags))
    formats = settings.feeds.formats
    report.note(
        "feeds",
        f"{len(specs)} feeds, {len(specs) * len(formats)} files ({', '.join(formats)}) "
        f"into {settings.output}",
    )
    transport = settings.digest.transport
    via = (
        f"smtp {settings.digest.smtp.host}:{settings.digest.smtp.port}"
        if transport == "smtp"
        else f"outbox {settings.state_dir / 'outbox'}"
    )
    try:
        stored = active_in_store(settings.state_dir)
    except sqlite3.DatabaseError as exc:
        stored = 0
        where = settings.state_dir / "state.sqlite3"
        report.problems.append(f"{where}: cannot use the state database: {exc}")
    report.note(
        "subscribers",
        f"{len(settings.subscribers)} in the config, {stored} active in the store; "
        f"digest via {via}",
    )


def active_in_store(state_dir: Path) -> int:
    """Active subscribers in the state database, read without locking or writing anything.

    A database without the subscribers table yet (made by an older release,
    which ``feeds digest`` brings up to date) has none; a damaged one raises
    ``sqlite3.DatabaseError``, as the digest would fail on it.
    """
    path = state_dir / "state.sqlite3"
    if not path.is_file():
        return 0
    uri = f"{path.absolute().as_uri()}?mode=ro&immutable=1"
    with closing(sqlite3.connect(uri, uri=True)) as db:
        query = "SELECT count(*) FROM subscribers WHERE status = 'active'"
        try:
            return db.execute(query).fetchone()[0]
        except sqlite3.OperationalError as exc:
            if str(exc).startswith("no such table"):
                return 0
            raise


def template_problems(
    templates_dir: Path | None, at: Callable[[str], str], report: CheckReport
) -> list[str]:
    """Every template file found must load and compile, and name templates that exist.

    ``digest.subject`` is a template too; the config's own check parses it.
    """
    problems = []
    if templates_dir is not None and not templates_dir.is_dir():
        problems.append(f"{at('digest.templates_dir')}: folder not found: {templates_dir}")
    env = environment(templates_dir, autoescape=jinja2.select_autoescape(["html"]))
    names = env.list_templates()
    for name in names:
        problems += compile_problems(env, name, set(names))
    folders = ", ".join(str(folder) for folder in template_folders(templates_dir))
    problems += [
        f"template {n} not found in {folders}" for n in REQUIRED_TEMPLATES if n not in names
    ]
    yours = [name for name in names if templates_dir and (templates_dir / name).is_file()]
    report.note("templates", f"{len(names)} compiled, {len(yours)} of them yours ({folders})")
    return problems


def compile_problems(env: jinja2.Environment, name: str, names: set[str]) -> Iterator[str]:
    try:
        source, filename, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
    except UnicodeDecodeError:
        searched = env.loader.searchpath  # type: ignore[union-attr]
        path = next(Path(f) / name for f in searched if (Path(f) / name).is_file())
        yield f"{path}: not UTF-8 text"
        return
    try:
        env.compile(source, name, filename)
        tree = env.parse(source, name, filename)
    except jinja2.TemplateSyntaxError as exc:
        yield f"{filename}: line {exc.lineno}: {exc.message}"
        return
    for node in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        target = node.template
        optional = isinstance(node, nodes.Include) and node.ignore_missing
        if isinstance(target, nodes.Const) and target.value not in names and not optional:
            yield f"{filename}: line {node.lineno}: template {target.value} not found"


def secret_names(raw: ConfigFile) -> list[tuple[str, str | None]]:
    """(config key, variable name) of every secret a run reads from the environment."""
    wanted: list[tuple[str, str | None]] = []
    smtp = raw.digest.smtp
    if raw.digest.transport == "smtp" and (smtp.username_env or smtp.password_env):
        wanted += [
            ("digest.smtp.username_env", smtp.username_env),
            ("digest.smtp.password_env", smtp.password_env),
        ]
    if raw.web is not None:
        wanted.append(("web.secret_env", raw.web.secret_env))
    return wanted


def secret_problems(raw: ConfigFile, at: Callable[[str], str]) -> list[str]:
    problems = []
    for key, name in secret_names(raw):
        if not name:
            problems.append(f"{at(key)}: missing; the SMTP user name and password go together")
        elif name not in os.environ:
            problems.append(f"{at(key)}: environment variable {name} is not set")
        elif not os.environ[name]:
            problems.append(f"{at(key)}: environment variable {name} is empty")
        elif key == "web.secret_env" and (weak := short_key(name, os.environ[name])):
            problems.append(f"{at(key)}: {weak}")
    return problems


def transport_problems(raw: ConfigFile, at: Callable[[str], str]) -> list[str]:
    ca_file = raw.digest.smtp.ca_file
    if raw.digest.transport == "smtp" and ca_file is not None and not ca_file.is_file():
        return [f"{at('digest.smtp.ca_file')}: file not found: {ca_file}"]
    return []


def probe_smtp(
    options: SmtpOptions, sender: str | None, *, credentials: bool
) -> tuple[str | None, str]:
    """Connect, EHLO, STARTTLS and log in as a run would, try the sender, send nothing.

    Returns (problem or None, summary). Without the credentials (their
    variables unset) it still connects, so the other problems show.
    """
    from feeds.newsletter.deliver import Smtp

    where = f"{options.host}:{options.port}"
    if not credentials:
        options = options.model_copy(update={"username_env": None, "password_env": None})
    client = Smtp(options)
    try:
        connection = client.handshake()
        client.log_in(connection)
    except DeliveryError as exc:
        return str(exc), "refused us"
    except smtplib.SMTPNotSupportedError:
        return f"{where}: the server does not offer STARTTLS", "no STARTTLS"
    except ssl.SSLCertVerificationError as exc:
        return f"{where}: TLS certificate not trusted: {exc.verify_message}", "TLS failed"
    except (ssl.SSLError, smtplib.SMTPException) as exc:
        return f"{where}: {exc}", "failed"
    except OSError as exc:
        return f"{where}: cannot connect: {exc.strerror or exc}", "cannot connect"
    done = {"starttls": ["STARTTLS"], "tls": ["TLS"], "none": []}[options.security]
    if client.credentials:
        done.append(f"logged in as {client.credentials[0]}")
    try:
        if sender:
            connection.ehlo_or_helo_if_needed()
            code, text = connection.mail(sender, [] if sender.isascii() else ["SMTPUTF8"])
            connection.rset()
            if code >= 400:
                reply = text.decode("utf-8", "replace")
                return f"{where}: sender {sender} refused: {code} {reply}", "refused the sender"
            done.append(f"sender {sender} accepted")
    except (smtplib.SMTPException, OSError) as exc:
        return f"{where}: {exc}", "failed"
    finally:
        client.close()
    return None, f"{where} accepts us ({', '.join(done or ['plain'])}; no mail sent)"
