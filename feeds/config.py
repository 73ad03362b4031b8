"""config.yaml and the Jekyll site's _config.yml: the only place settings are parsed and checked.

Every problem is reported, each on its own line, naming the file and the key,
so an operator fixes a config in one round instead of one error at a time.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import logging
import os
import re
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    ValidationError,
    field_validator,
    model_validator,
)

from feeds import yamlsafe
from feeds.errors import ConfigError
from feeds.safefile import Unreadable, read_regular
from feeds.site.permalink import check_permalink

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from email.headerregistry import Address

DEFAULT_CONFIG = Path("config.yaml")


# C0 controls except tab, LF and CR; DEL and C1; and what XML 1.0 cannot carry at all.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_KINDS = {bytes: "binary data", list: "a list", dict: "a mapping", bool: "true/false"}


def parse_text(value: Any) -> str:
    """A setting that ends up in feeds and mail headers, as text.

    Numbers and dates read as text, as Jekyll prints them; binary data
    (``!!binary``), lists, mappings and control characters are refused,
    because no feed or header can carry them faithfully.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float | date):
        kind = _KINDS.get(type(value), type(value).__name__)
        raise ValueError(f"expected text, got {kind}")
    text = str(value)
    if bad := _CONTROL.search(text):
        raise ValueError(f"contains the control character U+{ord(bad.group()):04X}")
    return text


def parse_title(value: Any) -> str:
    """A one-line title: line breaks and tabs (a YAML block scalar's) read as spaces."""
    return " ".join(parse_text(value).split())


_LANGUAGE = re.compile(r"^[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*$")


def parse_language(value: Any) -> str:
    """A language tag such as zh-CN (Jekyll sites also write zh_CN); '' for none."""
    text = parse_text(value).strip()
    if text and not _LANGUAGE.match(text):
        raise ValueError(f"expected a language tag such as zh-CN, got {text!r}")
    return text.replace("_", "-")


_UNSAFE_IN_URL = re.compile(r"[\s<>\"{}|\\^`]")


def parse_site_url(value: str) -> str:
    """An absolute http(s) URL without a trailing slash; raises ValueError if it is not one.

    Credentials in it would be published in every feed, so they are refused.
    """
    text = parse_text(value).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or _UNSAFE_IN_URL.search(text):
        raise ValueError(f"expected an absolute http(s) URL, got {value!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"expected a URL without query or fragment, got {value!r}")
    if "@" in parts.netloc:
        raise ValueError(f"expected a URL without user name or password, got {value!r}")
    try:
        port = parts.port  # ValueError when out of range or not a number
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError(f"expected a port between 1 and 65535, got {value!r}")
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")


def parse_timezone(name: str) -> ZoneInfo:
    """An IANA zone such as Asia/Shanghai; raises ValueError naming the bad value.

    OSError covers names of tzdata folders (``America``), which ZoneInfo tries to open.
    """
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name such as Asia/Shanghai)"
        ) from None


def parse_baseurl(value: Any) -> str:
    """Jekyll's baseurl: '' or '/path' without a trailing slash."""
    text = parse_text(value or "").strip().strip("/")
    if re.search(r"[\s?#<>\"\\]", text):
        raise ValueError(f"expected a path such as /blog, got {value!r}")
    return f"/{text}" if text else ""


def parse_author(value: Any) -> str | None:
    """Jekyll accepts ``author: Name`` and ``author: {name: Name, email: ...}``."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        name = value.get("name")
        if not name:
            raise ValueError("expected a name or a mapping with a 'name'")
        return parse_title(name)
    return parse_title(value)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_DURATION_DAYS = 3650


def parse_duration(value: Any) -> timedelta:
    """'30s', '10m', '1h', '2d' or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(str(value))
    if not match or isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s, 10m, 1h or 2d, got {value!r}")
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds <= 0:
        raise ValueError(f"expected a duration longer than zero, got {value!r}")
    if seconds > MAX_DURATION_DAYS * _UNITS["d"]:
        raise ValueError(f"expected a duration of at most {MAX_DURATION_DAYS}d, got {value!r}")
    return timedelta(seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def format_duration(value: timedelta) -> str:
    """The shortest of '45s', '10m', '6h', '2d' that says it exactly."""
    seconds = value.total_seconds()
    for unit in ("d", "h", "m"):
        if seconds >= _UNITS[unit] and seconds % _UNITS[unit] == 0:
            return f"{seconds / _UNITS[unit]:g}{unit}"
    return f"{seconds:g}s"


def parse_mailbox(value: str) -> Address:
    """'Name <addr@host>' or 'addr@host' as an Address; ValueError when it is not one."""
    from email.headerregistry import Address
    from email.utils import parseaddr

    name, addr = parseaddr(str(value))
    if "@" not in addr or any(ch in str(value) for ch in "\r\n"):
        raise ValueError(f"expected 'Name <address@domain>', got {value!r}")
    user, _, domain = addr.rpartition("@")
    return Address(display_name=name, username=user, domain=domain)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


SiteURL = Annotated[str, AfterValidator(parse_site_url)]


class SiteOptions(_Strict):
    """Overrides for the site metadata read from _config.yml."""

    url: SiteURL | None = None
    baseurl: str | None = None
    title: str | None = None
    language: str | None = None
    timezone: str | None = None
    author: str | None = None
    permalink: str | None = None
    description: str | None = None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None:
            parse_timezone(value)
        return value

    @field_validator("permalink")
    @classmethod
    def _permalink(cls, value: str | None) -> str | None:
        if value is not None:
            check_permalink(value)
        return value


def parse_hub_url(value: str) -> str:
    """A WebSub hub: an absolute http(s) URL, kept exactly as written (hubs differ on slashes)."""
    parse_site_url(value)
    return str(value).strip()


HubURL = Annotated[str, AfterValidator(parse_hub_url)]
MIB = 1024 * 1024


class WindowOptions(_Strict):
    """How many entries a feed holds; each key of a category's overrides may be left out."""

    limit: int | None = Field(None, ge=1, le=10_000)
    window: Duration | None = None
    max_entries: int | None = Field(None, ge=1, le=100_000)
    max_bytes: int | None = Field(None, ge=10_000)


class CategoryOptions(WindowOptions):
    title: str | None = None


class FeedOptions(_Strict):
    limit: int = Field(20, ge=1, le=10_000)
    window: Duration = timedelta(hours=3)
    max_entries: int = Field(1000, ge=1, le=100_000)
    max_bytes: int = Field(MIB, ge=10_000)
    formats: list[Literal["atom", "rss", "json"]] = Field(
        default_factory=lambda: ["atom", "rss", "json"], min_length=1
    )
    tags: bool = False
    categories: dict[str, CategoryOptions] = Field(default_factory=dict)
    summary_length: int = Field(140, ge=20, le=5_000)
    category_page: str | None = None
    url: SiteURL | None = None
    hubs: list[HubURL] = Field(default_factory=list)
    pages: bool = True

    @field_validator("categories", mode="before")
    @classmethod
    def _empty(cls, value: Any) -> Any:
        # `categories:` whose entries are all commented out (as `feeds init` writes it) is null
        return {} if value is None else value

    @field_validator("formats", "hubs")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _bounds(self) -> FeedOptions:
        for name, own in [(None, self), *self.categories.items()]:
            limit = own.limit or self.limit
            most = own.max_entries or self.max_entries
            if limit > most:
                where = "" if name is None else f"categories.{name}."
                raise ValueError(f"{where}limit ({limit}) is more than max_entries ({most})")
        return self

    @field_validator("category_page")
    @classmethod
    def _page(cls, value: str | None) -> str | None:
        if value is not None and (
            "{name}" not in value or {"{", "}"} & set(value.replace("{name}", ""))
        ):
            raise ValueError(
                "expected a path with {name} as its only placeholder, e.g. /category/{name}.html"
            )
        return value


MIN_RATE = round(1 / 3600, 6)


class SmtpOptions(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "starttls"
    username_env: str | None = None
    password_env: str | None = None
    ca_file: Path | None = None
    timeout: float = Field(30, gt=0, le=3600, allow_inf_nan=False)
    retries: int = Field(3, ge=0, le=20)
    backoff: float = Field(2.0, ge=0, le=3600, allow_inf_nan=False)
    rate_limit: float = Field(0, ge=0, le=10_000, allow_inf_nan=False)
    connections: int = Field(4, ge=1, le=64)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not value or re.search(r"[\s\x00-\x1f\x7f/]", value):
            raise ValueError(f"expected a host name or IP address, got {value!r}")
        return value

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: float) -> float:
        if 0 < value < MIN_RATE:
            raise ValueError(
                f"expected 0 (no limit) or at least {MIN_RATE} messages per second (one an hour)"
            )
        return value


def check_email(value: str) -> str:
    """A deliverable-looking address (syntax only: no DNS look-up), normalised."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"value is not a valid email address: {exc}") from None


Email = Annotated[str, AfterValidator(check_email)]


class Subscriber(_Strict):
    email: Email
    name: str | None = None
    categories: Literal["all"] | list[str]

    @field_validator("categories", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str) and value != "all":
            return [part for part in re.split(r"[\s;,]+", value) if part]
        return value

    def wants(self, category: str) -> bool:
        return self.categories == "all" or category in self.categories


class DigestOptions(_Strict):
    subject: str = "{{ site.title }} 每日摘要 {{ date }}（{{ count }} 篇）"
    from_address: str | None = Field(None, alias="from")
    unsubscribe_url: str | None = None
    unsubscribe_mailto: str | None = None
    transport: Literal["outbox", "smtp"] = "outbox"
    smtp: SmtpOptions = Field(default_factory=SmtpOptions)
    subscribers: list[Subscriber] = Field(default_factory=list)
    subscribers_file: Path | None = None
    templates_dir: Path | None = None
    first_window: Duration = timedelta(hours=24)
    lookback: Duration = timedelta(days=7)
    max_per_category: int = Field(10, ge=1)
    max_items: int = Field(100, ge=1)
    max_bytes: int = Field(100_000, ge=10_000)
    send_empty: bool = False
    deferred_attempts: int = Field(5, ge=1, le=100)
    deferred_max_age: Duration = timedelta(days=3)

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        """A template that does not parse would stop ``feeds digest`` after planning began."""
        import jinja2
        from jinja2.sandbox import SandboxedEnvironment

        try:
            SandboxedEnvironment().parse(value)
        except jinja2.TemplateSyntaxError as exc:
            raise ValueError(f"line {exc.lineno}: {exc.message}") from None
        return value

    @field_validator("from_address")
    @classmethod
    def _from(cls, value: str | None) -> str | None:
        if value is not None:
            parse_mailbox(value)
        return value

    @field_validator("unsubscribe_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://"):
            raise ValueError(f"expected an https:// URL (RFC 8058), got {value!r}")
        return value


class ScheduleOptions(_Strict):
    build_every: Duration = timedelta(minutes=10)
    digest_cron: str = "0 8 * * *"
    misfire_grace: Duration = timedelta(hours=6)
    build: bool = True
    digest: bool = True
    bounces_every: Duration | None = None
    watch: bool = True
    watch_settle: Duration = timedelta(milliseconds=500)

    @field_validator("digest_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from feeds.cron import parse_cron

        parse_cron(value)
        return value


LOCAL_HOSTS = ("127.0.0.1", "localhost")


def parse_web_url(value: str) -> str:
    """The service's public base URL: https, except on this machine (tests, development).

    Kept in the one form both of its readers need: browsers send the origin
    lower-cased, IDNA-encoded and without a default port (the CSRF check
    compares with it), and URLs in mail headers must be ASCII, or the mail
    library turns List-Unsubscribe into encoded words no provider reads.
    """
    parts = urlsplit(parse_site_url(value))
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    if scheme != "https" and host not in LOCAL_HOSTS:
        raise ValueError(
            f"expected an https:// URL (http only for 127.0.0.1 and localhost), got {value!r}"
        )
    host = ascii_host(host, value)
    if parts.port is not None and parts.port != {"https": 443, "http": 80}[scheme]:
        host = f"{host}:{parts.port}"
    path = quote(parts.path, safe="/%:@!$&'()*+,;=-._~")
    return f"{scheme}://{host}{path}"


def ascii_host(host: str, value: str) -> str:
    """The host as it goes on the wire: an IP address as it is, a name IDNA-encoded."""
    import idna

    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            return idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise ValueError(f"expected a host name, got {value!r} ({exc})") from None
    return f"[{address}]" if address.version == 6 else str(address)


class WebOptions(_Strict):
    """``feeds serve`` and the links mails carry to it."""

    url: Annotated[str, AfterValidator(parse_web_url)]
    secret_env: str = "FEEDS_SECRET"
    old_secrets_env: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    confirm_ttl: Duration = timedelta(hours=72)
    confirm_interval: Duration = timedelta(hours=24)
    # Only the web service reads these.
    subscribe_limit: int = Field(10, ge=1)
    subscribe_window: Duration = timedelta(hours=1)
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)
    max_body: int = Field(256 * 1024, ge=4096)


class BounceOptions(_Strict):
    """Where bounces and complaints arrive (a Maildir the relay delivers bounce+* mail into)."""

    maildir: Path | None = None


class ConfigFile(_Strict):
    """The shape of config.yaml. Unknown keys are errors, never ignored."""

    site_dir: Path | None = None
    output: Path | None = None
    state_dir: Path | None = None
    max_post_bytes: int = Field(10_000_000, ge=1_000)
    site: SiteOptions = Field(default_factory=SiteOptions)
    feeds: FeedOptions = Field(default_factory=FeedOptions)
    digest: DigestOptions = Field(default_factory=DigestOptions)
    schedule: ScheduleOptions = Field(default_factory=ScheduleOptions)
    web: WebOptions | None = None
    bounces: BounceOptions = Field(default_factory=BounceOptions)

    @field_validator("site", "feeds", "digest", "schedule", "bounces", mode="before")
    @classmethod
    def _empty(cls, value: Any) -> Any:
        # a section whose keys are all commented out (as `feeds init` writes `site:`) is null
        return {} if value is None else value


class Window(NamedTuple):
    """What one feed holds: every post of ``span`` back from its newest, within the bounds."""

    limit: int  # at least this many entries, however old
    span: timedelta
    max_entries: int
    max_bytes: int  # no file of the feed grows past this


@dataclass(frozen=True)
class Site:
    """The site as feeds see it: _config.yml with config.yaml's overrides applied."""

    url: str
    baseurl: str
    title: str
    language: str | None
    timezone: ZoneInfo
    author: str | None
    permalink: str
    description: str | None
    max_post_bytes: int = 10_000_000  # a post file larger than this is skipped unread

    @property
    def root(self) -> str:
        """The site's home page, e.g. https://finews.withounder.com/."""
        return f"{self.url}{self.baseurl}/"

    def absolute(self, path: str) -> str:
        """An absolute URL for a site path such as /emnews/2021/12/08/x.html."""
        return f"{self.url}{self.baseurl}{path}"


@dataclass(frozen=True)
class Settings:
    """Everything a command needs, resolved and checked."""

    config_path: Path | None
    site_dir: Path
    output: Path
    state_dir: Path
    site: Site
    feeds: FeedOptions
    raw: ConfigFile
    subscribers: list[Subscriber] = field(default_factory=list)
    templates_dir: Path | None = None
    bounces_maildir: Path | None = None

    def category_page(self, name: str) -> str | None:
        """The site's HTML page for a category, when config names the pattern."""
        page = self.feeds.category_page
        if not page:
            return None
        return self.site.absolute("/" + page.lstrip("/").replace("{name}", quote(name)))

    def display_name(self, category: str) -> str:
        configured = self.feeds.categories.get(category)
        return configured.title if configured and configured.title else category

    def window(self, category: str | None = None) -> Window:
        """A feed's window: the category's overrides over the ``feeds`` defaults."""
        feeds = self.feeds
        own = feeds.categories.get(category) if category is not None else None

        def pick(key: str):
            value = getattr(own, key) if own is not None else None
            return getattr(feeds, key) if value is None else value

        return Window(pick("limit"), pick("window"), pick("max_entries"), pick("max_bytes"))

    @property
    def digest(self) -> DigestOptions:
        return self.raw.digest

    @property
    def web(self) -> WebOptions | None:
        return self.raw.web

    @property
    def sender(self) -> Address:
        """The From address; by default digest@ the site's host."""
        if self.digest.from_address:
            return parse_mailbox(self.digest.from_address)
        from email.headerregistry import Address

        host = urlsplit(self.site.url).hostname or "localhost"
        return Address(display_name=self.site.title, username="digest", domain=host)

    @property
    def posts_dir(self) -> Path:
        return self.site_dir / "_posts"

    @property
    def feeds_url(self) -> str:
        """Where the output folder is served; feeds' self links start here."""
        return self.feeds.url or f"{self.site.url}{self.site.baseurl}/feeds"


def load_settings(
    config_path: Path | None = None,
    *,
    site_dir: Path | None = None,
    output: Path | None = None,
) -> Settings:
    """Read config.yaml (if any) and the site's _config.yml; ConfigError lists every problem.

    Paths in config.yaml are relative to the folder that holds it, so the same
    config works whatever the current directory; paths given on the command
    line are relative to the current directory, as a shell user expects.
    """
    explicit = config_path is not None
    config_path = config_path if explicit else DEFAULT_CONFIG
    if config_path.is_file():
        raw = read_config_file(config_path)
    elif explicit:
        raise ConfigError("file not found", where=str(config_path))
    else:
        raw, config_path = ConfigFile(), None
    return settings_from(raw, config_path, site_dir=site_dir, output=output)


@dataclass(frozen=True)
class Paths:
    """The folders a config names, resolved against the folder that holds config.yaml."""

    site_dir: Path
    output: Path
    state_dir: Path
    templates_dir: Path | None
    subscribers_file: Path | None
    bounces_maildir: Path | None


def resolve_paths(
    raw: ConfigFile,
    config_path: Path | None,
    *,
    site_dir: Path | None = None,
    output: Path | None = None,
) -> Paths:
    base = config_path.parent if config_path else Path(".")
    return Paths(
        site_dir=site_dir or (base / raw.site_dir if raw.site_dir else Path(".")),
        output=output or (base / raw.output if raw.output else Path("public/feeds")),
        state_dir=base / raw.state_dir if raw.state_dir else base / ".feeds",
        templates_dir=base / raw.digest.templates_dir if raw.digest.templates_dir else None,
        subscribers_file=(
            base / raw.digest.subscribers_file if raw.digest.subscribers_file else None
        ),
        bounces_maildir=base / raw.bounces.maildir if raw.bounces.maildir else None,
    )


def settings_from(
    raw: ConfigFile,
    config_path: Path | None,
    *,
    site_dir: Path | None = None,
    output: Path | None = None,
    check_folders: bool = True,
) -> Settings:
    """Settings from a checked config.yaml; ConfigError lists every site and subscriber problem.

    ``feeds check`` reports the folders itself, with check_folders=False.
    """
    paths = resolve_paths(raw, config_path, site_dir=site_dir, output=output)
    if not paths.site_dir.is_dir():
        raise ConfigError("site folder not found", where=str(paths.site_dir))
    where = str(config_path) if config_path else None
    problems = []
    if check_folders:
        problems += folder_problems(paths, where, output_given=output is not None)
    try:
        site = replace(
            resolve_site(paths.site_dir, raw.site, where or "config.yaml"),
            max_post_bytes=raw.max_post_bytes,
        )
    except ConfigError as exc:
        problems += str(exc).splitlines()
    subscribers = list(raw.digest.subscribers)
    try:
        if paths.subscribers_file:
            subscribers += read_subscribers(paths.subscribers_file)
        check_unique_subscribers(subscribers, config_path)
    except ConfigError as exc:
        problems += str(exc).splitlines()
    if problems:
        raise ConfigError(problems)
    return Settings(
        config_path,
        paths.site_dir,
        paths.output,
        paths.state_dir,
        site,
        raw.feeds,
        raw,
        subscribers,
        paths.templates_dir,
        paths.bounces_maildir,
    )


def folder_problems(paths: Paths, where: str | None, *, output_given: bool) -> list[str]:
    """One line for each folder feeds writes to that it could not create or write in.

    Checked before any work, so a misplaced path is one line at the start
    rather than a traceback halfway through a build or a digest.
    """
    named = [
        ("state_dir", paths.state_dir),
        ("--output" if output_given else "output", paths.output),
    ]
    lines = []
    for key, folder in named:
        problem = folder_problem(folder)
        if problem is None and folder is paths.output:
            problem = output_placement_problem(paths)
        if problem:
            prefix = f"{where}: " if where and not key.startswith("--") else ""
            lines.append(f"{prefix}{key}: {problem}")
    return lines


def output_placement_problem(paths: Paths) -> str | None:
    """Why the output folder is in a place where publishing and removing our files would do harm.

    A build removes feed files it no longer produces and writes folders named
    after categories: inside `_posts/` they would become posts, over the site
    or the state folder they would mix with files that are not feeds.
    """
    output, site, state = (
        path.resolve() for path in (paths.output, paths.site_dir, paths.state_dir)
    )
    posts = site / "_posts"
    if output.parent == output:
        return f"{paths.output} is the root of a file system; name a folder for the feeds"
    if output == posts or output.is_relative_to(posts):
        return f"{paths.output} is inside the site's _posts folder, where feeds would become posts"
    if site.is_relative_to(output):
        return f"{paths.output} holds the site itself; name a folder such as _site/feeds"
    if output == state or output.is_relative_to(state) or state.is_relative_to(output):
        return f"{paths.output} overlaps state_dir ({paths.state_dir}); keep them apart"
    return None


def folder_problem(folder: Path) -> str | None:
    """Why a run could not write into ``folder`` (creating it if need be), or None.

    Asks the operating system (access(2)) instead of writing a probe file, so
    checking leaves nothing behind; a read-only file system counts as not writable.
    """
    target = folder.absolute()
    while not target.exists() and target.parent != target:
        target = target.parent
    prefix = "" if target == folder.absolute() else f"cannot create {folder}: "
    if not target.is_dir():
        return f"{prefix}{target} is a file, not a folder"
    if not os.access(target, os.W_OK | os.X_OK):
        return f"{prefix}{target} is not writable"
    return None


def web_secrets(settings: Settings) -> list[str]:
    """The signing keys from the environment: the current one first, then old ones still accepted.

    Keys never live in config.yaml, which is often in version control.
    """
    web = settings.web
    if web is None:
        raise ConfigError("web: missing (the web section holds the URL and the secret's name)")
    current = os.environ.get(web.secret_env, "").strip()
    if not current:
        raise ConfigError(f"environment variable {web.secret_env} is not set")
    old = os.environ.get(web.old_secrets_env, "") if web.old_secrets_env else ""
    keys = [current, *(key.strip() for key in old.split(",") if key.strip())]
    names = [web.secret_env] + [str(web.old_secrets_env)] * (len(keys) - 1)
    for name, key in zip(names, keys, strict=True):
        if problem := short_key(name, key):
            raise ConfigError(problem)
    return keys


MIN_KEY_BYTES = 32


def short_key(name: str, key: str) -> str | None:
    """Why a signing key is too weak to sign links that never expire, or None.

    Anyone who guesses it can unsubscribe or re-point any reader; 32 bytes is
    what ``secrets.token_urlsafe(32)`` gives and beyond any guessing.
    """
    size = len(key.strip().encode("utf-8"))
    if size >= MIN_KEY_BYTES:
        return None
    unit = "byte" if size == 1 else "bytes"
    return (
        f"environment variable {name} holds {size} {unit}; a signing key needs at least "
        f"{MIN_KEY_BYTES} (python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
    )


# A generous bound: 100,000 subscribers take about 6 MB of CSV.
MAX_SUBSCRIBERS_FILE_BYTES = 50_000_000


def read_subscribers(path: Path) -> list[Subscriber]:
    """Subscribers from a YAML list or a CSV file with columns email, name, categories."""
    if path.suffix.lower() == ".csv":
        stream = io.StringIO(subscribers_text(path), newline="")
        try:
            rows = [
                {k: v for k, v in row.items() if v not in (None, "")}
                for row in csv.DictReader(stream)
            ]
        except csv.Error as exc:
            raise ConfigError(f"cannot read: {exc}", where=str(path)) from None
        label = "row {n}".format
        first = 2
    else:
        data = read_yaml_mapping_or_list(path)
        rows = data.get("subscribers") if isinstance(data, dict) else data
        if rows is None:
            rows = []
        if not isinstance(rows, list):
            kind = _KINDS.get(type(rows), type(rows).__name__)
            raise ConfigError(f"expected a list of subscribers, got {kind}", where=str(path))
        label = "subscribers.{n}".format
        first = 0
    subscribers, problems = [], []
    for number, row in enumerate(rows, start=first):
        try:
            subscribers.append(Subscriber.model_validate(row))
        except ValidationError as exc:
            problems += [f"{label(n=number)}: {line}" for line in describe_validation_errors(exc)]
    if problems:
        raise ConfigError(problems, where=str(path))
    return subscribers


def subscribers_text(path: Path) -> str:
    """The subscribers file as text, read with the rules for posts: a regular file, capped.

    A symbolic link is followed anywhere (the file is the operator's, never
    published); a BOM, as Excel writes one, is dropped.
    """
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, a dangling link or a loop
        raise ConfigError("file not found", where=str(path)) from None
    try:
        data = read_regular(target, MAX_SUBSCRIBERS_FILE_BYTES, "the subscribers file's limit")
    except Unreadable as exc:
        raise ConfigError(str(exc), where=str(path)) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read: {exc}", where=str(path)) from None


def read_yaml_mapping_or_list(path: Path) -> Any:
    text = subscribers_text(path)
    try:
        return yamlsafe.load(text, fast=False, bad_dates_as_text=False) or []
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {str(exc).splitlines()[0]}", where=str(path)) from None
    except ValueError as exc:  # an impossible date such as 2022-13-45
        raise ConfigError(f"not valid YAML: invalid date ({exc})", where=str(path)) from None


def check_unique_subscribers(subscribers: list[Subscriber], config_path: Path | None) -> None:
    seen: set[str] = set()
    for subscriber in subscribers:
        key = subscriber.email.lower()
        if key in seen:
            raise ConfigError(
                f"digest.subscribers: {subscriber.email} is listed twice",
                where=str(config_path or "config.yaml"),
            )
        seen.add(key)


def read_yaml_mapping(
    path: Path, duplicates: list[yamlsafe.Duplicate] | None = None
) -> dict[str, Any]:
    """A YAML file that must hold a mapping (or be empty); keys written twice go to
    ``duplicates`` when it is given."""
    try:
        text = path.read_text(encoding="utf-8")
        data = yamlsafe.load(text, fast=False, bad_dates_as_text=False, duplicates=duplicates)
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", where=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{line}not valid YAML: {problem}", where=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", where=str(path)) from None
    except ValueError as exc:  # an impossible date such as 2022-13-45
        raise ConfigError(f"not valid YAML: invalid date ({exc})", where=str(path)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping of keys, got {type(data).__name__}", where=str(path))
    return data


def read_config_file(path: Path) -> ConfigFile:
    data = read_unique_mapping(path)
    try:
        return ConfigFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_errors(exc), where=str(path)) from None


def read_unique_mapping(path: Path) -> dict[str, Any]:
    """config.yaml, where a key written twice is an error: YAML would keep the last one
    without a word, and the first is usually the one the operator is looking at."""
    duplicates: list[yamlsafe.Duplicate] = []
    data = read_yaml_mapping(path, duplicates)
    if duplicates:
        raise ConfigError(
            [
                f"line {d.line}: {d.key}: written twice (first at line {d.first_line})"
                for d in duplicates
            ],
            where=str(path),
        )
    return data


def describe_validation_errors(exc: ValidationError) -> list[str]:
    """One line per problem: ``feeds.limit: must be >= 1 (got 0)``."""
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        if error["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key")
            continue
        message = re.sub(r"^Value error, ", "", error["msg"])
        got = error.get("input")
        if (
            error["type"] != "missing"
            and not isinstance(got, dict | list)
            and repr(got) not in message
        ):
            message += f" (got {got!r})"
        lines.append(f"{key}: {message}")
    return lines


JEKYLL_KEYS = ("url", "baseurl", "title", "lang", "timezone", "author", "permalink", "description")


def resolve_site(site_dir: Path, overrides: SiteOptions, config_name: str = "config.yaml") -> Site:
    """Merge _config.yml with config.yaml's ``site:`` overrides and check each value.

    Jekyll keys that feeds does not use are ignored; the ones it uses must be
    usable, whichever file they come from.
    """
    jekyll_path = site_dir / "_config.yml"
    duplicates: list[yamlsafe.Duplicate] = []
    jekyll = read_yaml_mapping(jekyll_path, duplicates) if jekyll_path.is_file() else {}
    for duplicate in duplicates:
        if duplicate.key in JEKYLL_KEYS:
            log.warning(
                "%s: line %d: %s: written twice (first at line %d); using the last, as Jekyll does",
                jekyll_path,
                duplicate.line,
                duplicate.key,
                duplicate.first_line,
            )
    values = {key: jekyll.get(key) for key in JEKYLL_KEYS}
    values["language"] = values.pop("lang")
    problems: list[str] = []

    def pick(key: str, jekyll_key: str | None = None):
        override = getattr(overrides, key)
        if override is not None:
            return override, config_name, f"site.{key}"
        return values[key], str(jekyll_path), jekyll_key or key

    def checked(key: str, parse, default=None, jekyll_key: str | None = None):
        value, where, name = pick(key, jekyll_key)
        if value is None:
            return default
        try:
            return parse(value)
        except ValueError as exc:
            problems.append(f"{where}: {name}: {exc}")
            return default

    url = checked("url", parse_site_url)
    if url is None and not any(p.startswith(f"{jekyll_path}: url") for p in problems):
        problems.append(
            f"{jekyll_path}: url: missing; feeds need absolute links "
            "(set url in _config.yml or site.url in config.yaml)"
        )
    timezone = checked("timezone", parse_timezone, ZoneInfo("UTC"))
    permalink = checked("permalink", lambda value: check_permalink(parse_text(value)), "date")
    author = checked("author", parse_author)
    title = checked("title", parse_title)
    description = checked("description", parse_text)
    language = checked("language", parse_language, jekyll_key="lang")
    baseurl = checked("baseurl", parse_baseurl, "")
    if problems:
        raise ConfigError(problems)
    return Site(
        url=url,
        baseurl=baseurl,
        title=title or urlsplit(url).netloc,
        language=language or None,
        timezone=timezone,
        author=author,
        permalink=permalink,
        description=description or None,
    )
