"""config.yaml and the Jekyll site's _config.yml: the only place settings are parsed and checked.

Every problem is reported, each on its own line, naming the file and the key,
so an operator fixes a config in one round instead of one error at a time.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import timedelta
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
    ValidationError,
    field_validator,
    model_validator,
)

from feeds.errors import ConfigError
from feeds.site.permalink import check_permalink

if TYPE_CHECKING:
    from email.headerregistry import Address

DEFAULT_CONFIG = Path("config.yaml")


def parse_site_url(value: str) -> str:
    """An absolute http(s) URL without a trailing slash; raises ValueError if it is not one."""
    parts = urlsplit(str(value).strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in parts.netloc:
        raise ValueError(f"expected an absolute http(s) URL, got {value!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"expected a URL without query or fragment, got {value!r}")
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")


def parse_timezone(name: str) -> ZoneInfo:
    """An IANA zone such as Asia/Shanghai; raises ValueError naming the bad value."""
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name such as Asia/Shanghai)"
        ) from None


def parse_baseurl(value: str) -> str:
    """Jekyll's baseurl: '' or '/path' without a trailing slash."""
    value = str(value or "").strip().strip("/")
    return f"/{value}" if value else ""


def parse_author(value: Any) -> str | None:
    """Jekyll accepts ``author: Name`` and ``author: {name: Name, email: ...}``."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        name = value.get("name")
        if not name:
            raise ValueError("expected a name or a mapping with a 'name'")
        return str(name)
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError(f"expected a name, got {type(value).__name__}")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


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
        if value is not None and "{name}" not in value:
            raise ValueError("expected a path containing {name}, e.g. /category/{name}.html")
        return value


class SmtpOptions(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "starttls"
    username_env: str | None = None
    password_env: str | None = None
    ca_file: Path | None = None
    timeout: float = Field(30, gt=0)
    retries: int = Field(3, ge=0, le=20)
    backoff: float = Field(2.0, ge=0)
    rate_limit: float = Field(0, ge=0)


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
    watch: bool = True
    watch_settle: Duration = timedelta(seconds=1)

    @field_validator("digest_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from feeds.cron import parse_cron

        parse_cron(value)
        return value


class ConfigFile(_Strict):
    """The shape of config.yaml. Unknown keys are errors, never ignored."""

    site_dir: Path | None = None
    output: Path | None = None
    state_dir: Path | None = None
    site: SiteOptions = Field(default_factory=SiteOptions)
    feeds: FeedOptions = Field(default_factory=FeedOptions)
    digest: DigestOptions = Field(default_factory=DigestOptions)
    schedule: ScheduleOptions = Field(default_factory=ScheduleOptions)


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

    def category_page(self, name: str) -> str | None:
        """The site's HTML page for a category, when config names the pattern."""
        page = self.feeds.category_page
        if not page:
            return None
        return self.site.absolute("/" + page.lstrip("/").format(name=quote(name)))

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
        base = config_path.parent
    elif explicit:
        raise ConfigError("file not found", where=str(config_path))
    else:
        raw, base, config_path = ConfigFile(), Path("."), None

    site_dir = site_dir or (base / raw.site_dir if raw.site_dir else Path("."))
    output = output or (base / raw.output if raw.output else Path("public/feeds"))
    state_dir = base / raw.state_dir if raw.state_dir else base / ".feeds"
    if not site_dir.is_dir():
        raise ConfigError("site folder not found", where=str(site_dir))
    site = resolve_site(site_dir, raw.site)
    subscribers = list(raw.digest.subscribers)
    if raw.digest.subscribers_file:
        subscribers += read_subscribers(base / raw.digest.subscribers_file)
    check_unique_subscribers(subscribers, config_path)
    templates_dir = base / raw.digest.templates_dir if raw.digest.templates_dir else None
    return Settings(
        config_path, site_dir, output, state_dir, site, raw.feeds, raw, subscribers, templates_dir
    )


def read_subscribers(path: Path) -> list[Subscriber]:
    """Subscribers from a YAML list or a CSV file with columns email, name, categories."""
    if path.suffix.lower() == ".csv":
        try:
            with path.open(encoding="utf-8", newline="") as stream:
                rows = [
                    {k: v for k, v in row.items() if v not in (None, "")}
                    for row in csv.DictReader(stream)
                ]
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise ConfigError(f"cannot read: {exc}", where=str(path)) from None
        label = "row {n}".format
        first = 2
    else:
        data = read_yaml_mapping_or_list(path)
        rows = data.get("subscribers", []) if isinstance(data, dict) else data
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


def read_yaml_mapping_or_list(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError("file not found", where=str(path))
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid YAML: {str(exc).splitlines()[0]}", where=str(path)) from None


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


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """A YAML file that must hold a mapping (or be empty)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", where=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{line}not valid YAML: {problem}", where=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", where=str(path)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping of keys, got {type(data).__name__}", where=str(path))
    return data


def read_config_file(path: Path) -> ConfigFile:
    try:
        return ConfigFile.model_validate(read_yaml_mapping(path))
    except ValidationError as exc:
        raise ConfigError(describe_validation_errors(exc), where=str(path)) from None


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


def resolve_site(site_dir: Path, overrides: SiteOptions) -> Site:
    """Merge _config.yml with config.yaml's ``site:`` overrides and check each value.

    Jekyll keys that feeds does not use are ignored; the ones it uses must be
    usable, whichever file they come from.
    """
    jekyll_path = site_dir / "_config.yml"
    jekyll = read_yaml_mapping(jekyll_path) if jekyll_path.is_file() else {}
    values = {key: jekyll.get(key) for key in JEKYLL_KEYS}
    values["language"] = values.pop("lang")
    problems: list[str] = []

    def pick(key: str, jekyll_key: str | None = None):
        override = getattr(overrides, key)
        if override is not None:
            return override, "config.yaml", f"site.{key}"
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
    permalink = checked("permalink", check_permalink, "date")
    author = checked("author", parse_author)
    if problems:
        raise ConfigError(problems)
    title = pick("title")[0]
    description = pick("description")[0]
    language = pick("language", "lang")[0]
    return Site(
        url=url,
        baseurl=parse_baseurl(pick("baseurl")[0]),
        title=str(title) if title else urlsplit(url).netloc,
        language=str(language) if language else None,
        timezone=timezone,
        author=author,
        permalink=permalink,
        description=str(description) if description else None,
    )
