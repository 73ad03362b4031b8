"""Reading the files a config names: config.yaml, the site's _config.yml and the subscribers file.

Each reader turns whatever is wrong into ConfigError lines naming the file
and the key, so one round of fixes is enough.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import yaml
from pydantic import (
    ValidationError,
)

from feeds import yamlsafe
from feeds.config.schema import ConfigFile, SiteOptions, Subscriber
from feeds.config.settings import Site
from feeds.config.values import (
    VALUE_KINDS,
    parse_author,
    parse_baseurl,
    parse_language,
    parse_site_url,
    parse_text,
    parse_timezone,
    parse_title,
    shown,
)
from feeds.errors import ConfigError
from feeds.safefile import Unreadable, read_named_text
from feeds.site.permalink import check_permalink

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
            kind = VALUE_KINDS.get(type(rows), type(rows).__name__)
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
    """The subscribers file as text, read with the rules for posts: a regular file, capped."""
    try:
        return read_named_text(path, MAX_SUBSCRIBERS_FILE_BYTES, "the subscribers file's limit")
    except Unreadable as exc:
        raise ConfigError(str(exc), where=str(path)) from None


def read_yaml_mapping_or_list(path: Path) -> Any:
    text = subscribers_text(path)
    try:
        return yamlsafe.load(text, fast=False, bad_dates_as_text=False) or []
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {str(exc).splitlines()[0]}", where=str(path)) from None
    except ValueError as exc:  # 2022-13-45, or a number int() refuses such as 0x_
        raise ConfigError(f"not valid YAML: {unreadable_value(exc)}", where=str(path)) from None


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
    except ValueError as exc:  # 2022-13-45, or a number int() refuses such as 0x_
        raise ConfigError(f"not valid YAML: {unreadable_value(exc)}", where=str(path)) from None
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
            and shown(got) not in message
        ):
            message += f" (got {shown(got)})"
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
    warnings = tuple(
        f"{jekyll_path}: line {duplicate.line}: {duplicate.key}: written twice "
        f"(first at line {duplicate.first_line}); using the last, as Jekyll does"
        for duplicate in duplicates
        if duplicate.key in JEKYLL_KEYS
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
        warnings=warnings,
    )


def unreadable_value(exc: ValueError) -> str:
    """What PyYAML could not make of a value: an impossible date, or a number int() refuses."""
    if isinstance(exc, yamlsafe.BadDate):
        return f"invalid date ({exc})"
    return f"a value that cannot be read ({exc})"
