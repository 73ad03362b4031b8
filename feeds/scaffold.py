"""``feeds init``: a commented config.yaml for an existing Jekyll site, in one command.

The file it writes loads as it is and builds the site's feeds; everything a
user may want to change is there as a comment, the site's categories included
(most posts first), so naming 2,000 categories is editing, not typing.
Nothing the user already has is ever overwritten.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from feeds.config import Site, read_yaml_mapping
from feeds.errors import FeedsError
from feeds.site.collect import collect
from feeds.site.scan import post_files
from feeds.templating import default_templates_dir

log = logging.getLogger(__name__)

CONFIG_NAME = "config.yaml"
TEMPLATES_NAME = "_feeds_templates"  # Jekyll neither processes nor publishes folders named _*
SITE_KEYS = (  # config.yaml key, _config.yml key, what to say when _config.yml lacks it
    ("url", "url", "required: feeds need absolute links"),
    ("title", "title", "default: the url's host name"),
    ("language", "lang", "e.g. zh-CN; default: none"),
    ("timezone", "timezone", "dates without an offset are read as UTC until this is set"),
)
PLACEHOLDERS = {
    "url": "https://www.example.com",
    "title": "My site",
    "language": "en",
    "timezone": "Asia/Shanghai",
}


class InitError(FeedsError):
    """``feeds init`` cannot go on: not a Jekyll site, or a file it would write exists."""


@dataclass(frozen=True)
class InitReport:
    config: Path
    templates: list[Path]
    post_files: int
    categories: int


def init_site(site_dir: Path, *, templates: bool = False) -> InitReport:
    """Write ``config.yaml`` (and, with ``templates``, copies of the default templates)."""
    if not (site_dir / "_config.yml").is_file() and not (site_dir / "_posts").is_dir():
        raise InitError("not a Jekyll site (no _config.yml or _posts/ here)", where=str(site_dir))
    config = site_dir / CONFIG_NAME
    copies = template_copies(site_dir / TEMPLATES_NAME) if templates else {}
    for target in (config, *copies):
        if target.exists():
            raise InitError("already exists; feeds init overwrites nothing", where=str(target))
    jekyll_config = site_dir / "_config.yml"
    jekyll = read_yaml_mapping(jekyll_config) if jekyll_config.is_file() else {}
    counts, files = count_categories(site_dir / "_posts")
    text = config_text(jekyll, counts, templates=templates)
    for target, source in copies.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        write_new(target, source.read_bytes())
    write_new(config, text.encode("utf-8"))
    return InitReport(config, sorted(copies), files, len(counts))


def write_new(path: Path, data: bytes) -> None:
    """Create the file; if it appeared meanwhile, leave it alone (mode 'x')."""
    try:
        with open(path, "xb") as stream:
            stream.write(data)
    except FileExistsError:
        raise InitError("already exists; feeds init overwrites nothing", where=str(path)) from None


def template_copies(target: Path) -> dict[Path, Path]:
    """Every default template (target file -> source file), subfolders included."""
    source = default_templates_dir()
    return {
        target / path.relative_to(source): path
        for path in sorted(source.rglob("*"))
        if path.is_file()
    }


def count_categories(posts_dir: Path) -> tuple[Counter[str], int]:
    """Posts per category as a build reads them (future posts too), and the post files seen.

    The site's url and permalink do not change a post's categories, so a
    neutral site stands in: init works even before _config.yml is right.
    """
    if not posts_dir.is_dir():
        return Counter(), 0
    neutral = Site("https://example.invalid", "", "", None, ZoneInfo("UTC"), None, "date", None)
    files = post_files(posts_dir)
    collected = collect(neutral, posts_dir, now=datetime.now(UTC), future=True, files=files)
    return Counter(name for post in collected.posts for name in post.categories), len(files)


def quoted(value: Any) -> str:
    """A double-quoted YAML scalar on one line: safe as a key or a value, whatever it holds."""
    text = yaml.safe_dump(str(value), allow_unicode=True, default_style='"', width=1 << 30)
    return text.removesuffix("\n").removesuffix("\n...")


def site_lines(jekyll: dict[str, Any]) -> list[str]:
    lines = []
    for key, jekyll_key, missing in SITE_KEYS:
        value = jekyll.get(jekyll_key)
        if value not in (None, ""):
            lines.append(f"  # {key}: {quoted(value)}    # from _config.yml ({jekyll_key})")
        else:
            example = quoted(PLACEHOLDERS[key])
            lines.append(f"  # {key}: {example}    # not in _config.yml; {missing}")
    return lines


def category_lines(counts: Counter[str]) -> list[str]:
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [
        f"    # {quoted(name)}: {{title: {quoted(name)}}}    # {count} post{'s' * (count != 1)}"
        for name, count in ranked
    ]


def config_text(jekyll: dict[str, Any], counts: Counter[str], *, templates: bool) -> str:
    templates_line = (
        f"  templates_dir: {TEMPLATES_NAME}   # your copies; a file missing here comes from feeds"
        if templates
        else "  # templates_dir: templates  # your digest.html, digest.txt: feeds init --templates"
    )
    return "\n".join(
        [
            "# feeds configuration for this Jekyll site, written by `feeds init`.",
            "# Every key is optional; paths are relative to this file's folder; unknown keys are",
            "# errors. `feeds check` checks it all, `feeds build` writes the feeds.",
            "# Jekyll would publish this file: add config.yaml to `exclude:` in _config.yml.",
            "",
            "# The Jekyll site: the folder that holds _config.yml and _posts/.",
            "site_dir: .",
            "",
            "# Where the feeds are written (served as <url>/feeds/ unless feeds.url says so).",
            "# `jekyll build` empties _site/: run `feeds build` after it, or add",
            "# `keep_files: [feeds]` to _config.yml.",
            "output: _site/feeds",
            "",
            "# Caches and the digest's state (Jekyll ignores folders starting with a dot).",
            "state_dir: .feeds",
            "",
            "# Read from _config.yml; uncomment a key to override it for the feeds.",
            "site:",
            *site_lines(jekyll),
            "",
            "feeds:",
            "  window: 3h                   # every post of this period before a feed's newest",
            "  limit: 20                    # but at least this many entries",
            "  # max_entries: 1000          # and at most this many",
            "  # max_bytes: 1048576         # no feed file larger (old entries shed content first)",
            "  formats: [atom, rss, json]",
            "  # hubs: [https://pubsubhubbub.appspot.com/]  # WebSub hubs told of every change",
            "  tags: false                  # true: also a feed per tag",
            "  # url: https://www.example.com/feeds    # where the output folder is served",
            "  # category_page: /category/{name}.html  # the page a category feed mirrors",
            "  # Display names (feed titles are '<site title> · <display name>'); a category not",
            f"  # named uses its own name. {len(counts)} categories, most posts first:",
            "  categories:",
            *category_lines(counts),
            "",
            "# The daily email digest (`feeds digest`); the README lists every key.",
            "digest:",
            "  transport: outbox            # outbox: Maildir <state_dir>/outbox; smtp: the server",
            '  # from: "My site <digest@example.com>"',
            "  # smtp: {host: smtp.example.com, port: 587, security: starttls,",
            "  #        username_env: FEEDS_SMTP_USER, password_env: FEEDS_SMTP_PASSWORD}",
            templates_line,
            "  subscribers: []              # e.g. - {email: you@example.com, categories: all}",
            "",
        ]
    )
