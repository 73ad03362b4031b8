"""config.yaml as pydantic models: every key, its default and its check, in one place.

Extra keys are refused, so a typo is an error and not a silently ignored
setting.
"""

from __future__ import annotations

import re
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    field_validator,
    model_validator,
)

from feeds.config.values import (
    check_email,
    parse_duration,
    parse_hub_url,
    parse_mailbox,
    parse_network,
    parse_site_url,
    parse_timezone,
    parse_web_url,
)
from feeds.site.permalink import check_permalink

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Network = Annotated[IPv4Network | IPv6Network, PlainValidator(parse_network)]


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
    trusted_proxies: list[Network] = Field(default_factory=list)
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
