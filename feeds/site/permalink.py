"""Post URLs exactly as Jekyll 4.3 computes them.

Feed readers follow these links, so they must match the pages Jekyll
publishes to the byte: same slugging, same lowercasing of categories, same
percent-encoding, same clean-up of '..' and '//'. The rules below follow
Jekyll's Document, UrlDrop, Utils.slugify and URL classes; the golden files in
tests/golden/ were produced by real Jekyll and keep them honest.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

STYLES = {
    "none": "/:categories/:title:output_ext",
    "date": "/:categories/:year/:month/:day/:title:output_ext",
    "ordinal": "/:categories/:year/:y_day/:title:output_ext",
    "pretty": "/:categories/:year/:month/:day/:title/",
    "weekdate": "/:categories/:year/W:week/:short_day/:title:output_ext",
}

MARKDOWN_EXTENSIONS = frozenset({".markdown", ".mkdown", ".mkdn", ".mkd", ".md"})

_MONTHS = "January February March April May June July August September October November December"
_DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday"
LONG_MONTHS = _MONTHS.split()
LONG_DAYS = _DAYS.split()

PLACEHOLDERS = frozenset(
    [
        "collection",
        "name",
        "title",
        "slug",
        "categories",
        "slugified_categories",
        "year",
        "month",
        "day",
        "hour",
        "minute",
        "second",
        "i_day",
        "i_month",
        "short_month",
        "long_month",
        "short_year",
        "w_year",
        "week",
        "w_day",
        "short_day",
        "long_day",
        "y_day",
        "output_ext",
        "path",
    ]
)
_PLACEHOLDER = re.compile(r":([a-z_]+)")
_PLAIN_PATH = re.compile(r"^[a-zA-Z0-9./-]+$")
_SLASHES = re.compile(r"/{2,}")
_PRETTY_KEEP = frozenset("._~!$&'()+,;=@")


def template_for(setting: str) -> str:
    """The URL template of a ``permalink:`` setting: a style name or a custom pattern."""
    return STYLES.get(setting, setting)


def check_permalink(setting: str) -> str:
    """Return the setting if every placeholder is one Jekyll knows; raise ValueError if not."""
    setting = str(setting)
    for match in _PLACEHOLDER.finditer(template_for(setting)):
        if _resolve_key(match.group(1)) is None:
            raise ValueError(f"unknown placeholder ':{match.group(1)}' in {setting!r}")
    return setting


def _resolve_key(name: str) -> str | None:
    """Jekyll reads '/:month_:day' as :month then '_': try the name, then without its last '_'."""
    if name in PLACEHOLDERS:
        return name
    if name.endswith("_") and name[:-1] in PLACEHOLDERS:
        return name[:-1]
    return None


def _is_slug_char(char: str, extra: frozenset[str]) -> bool:
    category = unicodedata.category(char)
    return category[0] in "LM" or category == "Nd" or char in extra


class _SlugChars(dict):
    """A ``str.translate`` table: a kept character maps to itself, any other to NUL.

    Filled as characters are met, so each distinct character is looked up in
    the Unicode database once rather than once per occurrence.
    """

    def __init__(self, extra: frozenset[str]) -> None:
        super().__init__()
        self.extra = extra

    def __missing__(self, code: int) -> int | str:
        kept: int | str = code if _is_slug_char(chr(code), self.extra) else "\0"
        self[code] = kept
        return kept


# In ASCII only letters and digits are letters, marks or decimal digits, so one
# regex gives the per-character rule's separators for text that is all ASCII.
_ASCII_SEPARATORS = re.compile("[^A-Za-z0-9]+")
_ASCII_PRETTY_SEPARATORS = re.compile(f"[^A-Za-z0-9{re.escape(''.join(sorted(_PRETTY_KEEP)))}]+")
_SLUG_CHARS = _SlugChars(frozenset())
_PRETTY_SLUG_CHARS = _SlugChars(_PRETTY_KEEP)
_NULS = re.compile("\0+")


def slugify(text: str, *, pretty: bool = False, cased: bool = False) -> str:
    """Jekyll's Utils.slugify in its 'default' and 'pretty' modes: every run of
    characters other than letters, marks and decimal digits (and, when pretty,
    ``._~!$&'()+,;=@``) becomes one '-', and none is left at either end."""
    if text.isascii():
        slug = (_ASCII_PRETTY_SEPARATORS if pretty else _ASCII_SEPARATORS).sub("-", text)
    else:
        slug = _NULS.sub("-", text.translate(_PRETTY_SLUG_CHARS if pretty else _SLUG_CHARS))
    slug = slug.removeprefix("-").removesuffix("-")
    return slug if cased else slug.lower()


def escape_path(value: str) -> str:
    """Jekyll's URL.escape_path: percent-encode what a URL path cannot hold as is."""
    if not value or _PLAIN_PATH.match(value):
        return value
    return quote(value, safe="/!$&'()*+,;=:@-._~?", errors="replace").replace("#", "%23")


_BARE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def encode_url_path(path: str) -> str:
    """The path as a URL, the way jekyll-feed publishes it (``absolute_url``, which runs
    Addressable's normalize): what a URL path cannot hold literally (spaces, '<', control
    characters, a '?' or '#' that is part of the file's name) percent-encoded, the
    escapes Jekyll made for placeholders kept as they are."""
    if _PLAIN_PATH.match(path):
        return path
    return quote(_BARE_PERCENT.sub("%25", path), safe="/!$&'()*+,;=:@-._~%", errors="replace")


def sanitize_url(url: str) -> str:
    """Jekyll's URL.sanitize_url: no '..', no './', no '//' and a leading '/'."""
    url = f"/{url}".replace("..", "/").replace("./", "")
    return _SLASHES.sub("/", url) if "//" in url else url


def output_ext(extension: str) -> str:
    return ".html" if extension.lower() in MARKDOWN_EXTENSIONS else extension


_VALUES: dict[str, Callable[[PostFacts], str]] = {
    "collection": lambda f: "posts",
    "name": lambda f: slugify(f.path.stem),
    "path": lambda f: "/" + f.path.relative_to(f.posts_dir).with_suffix("").as_posix().rstrip("."),
    "title": lambda f: slugify(f.slug, pretty=True, cased=True),
    "slug": lambda f: slugify(f.slug),
    "categories": lambda f: "/".join(dict.fromkeys(c.lower() for c in f.categories)),
    "slugified_categories": lambda f: "/".join(dict.fromkeys(slugify(c) for c in f.categories)),
    "year": lambda f: f"{f.date.year:04d}",
    "month": lambda f: f"{f.date.month:02d}",
    "day": lambda f: f"{f.date.day:02d}",
    "hour": lambda f: f"{f.date.hour:02d}",
    "minute": lambda f: f"{f.date.minute:02d}",
    "second": lambda f: f"{f.date.second:02d}",
    "i_day": lambda f: str(f.date.day),
    "i_month": lambda f: str(f.date.month),
    "short_month": lambda f: LONG_MONTHS[f.date.month - 1][:3],
    "long_month": lambda f: LONG_MONTHS[f.date.month - 1],
    "short_year": lambda f: f"{f.date.year % 100:02d}",
    "w_year": lambda f: str(f.date.isocalendar()[0]),
    "week": lambda f: f"{f.date.isocalendar()[1]:02d}",
    "w_day": lambda f: str(f.date.isocalendar()[2]),
    "short_day": lambda f: LONG_DAYS[f.date.weekday()][:3],
    "long_day": lambda f: LONG_DAYS[f.date.weekday()],
    "y_day": lambda f: f"{f.date.timetuple().tm_yday:03d}",
    "output_ext": lambda f: output_ext(f.extension),
}


class PostFacts(NamedTuple):
    """What Jekyll's UrlDrop reads of a post.

    ``date`` must already be in the site's zone; ``path`` is the post's file
    inside ``posts_dir``.
    """

    date: datetime
    slug: str
    categories: tuple[str, ...]
    extension: str
    path: Path
    posts_dir: Path


def placeholders(facts: PostFacts, keys: Iterable[str] = PLACEHOLDERS) -> dict[str, str]:
    """The values Jekyll's UrlDrop gives a post, for the placeholders asked for."""
    return {key: _VALUES[key](facts) for key in keys}


class _Template(NamedTuple):
    """A permalink template taken apart once, so that each post only computes and
    escapes its values: the text around the placeholders as a ``str.format``
    pattern (field n shows ``keys[n]``; the '_' of ':month_' stays text), and the
    first unknown placeholder, if there is one."""

    pattern: str
    keys: tuple[str, ...]
    unknown: str | None


@lru_cache(maxsize=256)
def _parse(template: str) -> _Template:
    pieces: list[str] = []
    keys: list[str] = []
    unknown = None
    start = 0
    for match in _PLACEHOLDER.finditer(template):
        name = match.group(1)
        key = _resolve_key(name)
        if key is None:
            unknown = unknown or name
            continue
        if key not in keys:
            keys.append(key)
        field = f"{{{keys.index(key)}}}"
        pieces += [_braces(template[start : match.start()]), field, name[len(key) :]]
        start = match.end()
    pieces.append(_braces(template[start:]))
    return _Template("".join(pieces), tuple(keys), unknown)


def _braces(literal: str) -> str:
    return literal.replace("{", "{{").replace("}", "}}")


def url_path(template: str, facts: PostFacts) -> str:
    """A post's URL path under a permalink template, as Jekyll computes it."""
    parsed = _parse(template)
    values = [_VALUES[key](facts) for key in parsed.keys]
    return _fill(parsed, values)


def post_path(template: str, values: dict[str, str]) -> str:
    """Fill a URL template the way Jekyll's URL#generate_url_from_drop does, then sanitize it."""
    parsed = _parse(template)
    return _fill(parsed, [values[key] for key in parsed.keys])


def _fill(parsed: _Template, values: list[str]) -> str:
    if parsed.unknown is not None:  # check_permalink rejects these before any post is read
        raise ValueError(f"unknown placeholder ':{parsed.unknown}'")
    return sanitize_url(parsed.pattern.format(*[escape_path(value) for value in values]))
