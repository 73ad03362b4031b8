"""Read a Jekyll ``_posts/`` folder into ``Post`` values, the way Jekyll reads it.

One bad file never raises out of here: it becomes a ``PostProblem`` naming the
file and the reason, and every other post is still read. Where the real data
is sloppy but the intent is clear (a blank line before the opening ``---``, a
date YAML leaves as a string) we are forgiving; where Jekyll would not publish
a page at all (a file name without a date) we skip, because a feed entry must
link to a page that exists.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from frontmatter.default_handlers import YAMLHandler

from feeds import yamlsafe
from feeds.config import Site, parse_author
from feeds.safefile import Unreadable, read_regular, read_unless_link
from feeds.site.permalink import (
    MARKDOWN_EXTENSIONS,
    PostFacts,
    encode_url_path,
    template_for,
    url_path,
)
from feeds.site.post import Post, PostProblem, timestamp_us
from feeds.site.render import strip_html
from feeds.site.scan import post_files

log = logging.getLogger(__name__)

FILENAME = re.compile(r"^(\d{2,4}-\d{1,2}-\d{1,2})-(.*)(\.[^.]+)$", re.DOTALL)
DATE_TEXT = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:(?:[Tt]|\s+)(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?$"
)
_HANDLER = YAMLHandler()
_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# Years with four digits, far enough from datetime's limits that no time zone
# conversion can overflow: a date outside them is a typo, not a news item.
FIRST_YEAR, LAST_YEAR = 1000, 9998
DEFAULT_MAX_POST_BYTES = 10_000_000
# A news title is a line, a name a few words; far longer ones are typos or attacks.
MAX_TITLE, MAX_NAME = 500, 200


class BadPost(Exception):
    """Why one file cannot become a post. Never leaves this module."""


@dataclass(frozen=True)
class Collected:
    """What reading a site gave: the posts and every problem, in file order."""

    posts: list[Post]
    problems: list[PostProblem]
    excluded: int  # unpublished or future-dated: left out on purpose, not a problem
    next_release: int | None = None  # when the earliest future post falls due (epoch µs)


# What reading one file gave, as plain tuples that cache and cross processes cheaply:
# ("post", *Post), ("warning", reason), ("skipped", reason) or ("unpublished",).
FileResult = tuple[tuple, ...]


def read_file(site: Site, posts_dir: Path, path: Path) -> FileResult:
    warnings: list[str] = []
    try:
        post = read_post(site, posts_dir, path, warnings)
    except BadPost as exc:
        return (("skipped", f"skipped: {exc}"),)
    items = tuple(("warning", warning) for warning in warnings)
    return (*items, ("post", *post) if post is not None else ("unpublished",))


def read_batch(site: Site, posts_dir: Path, paths: Sequence[str]) -> list[FileResult]:
    """Read some post files; runs in worker processes for big sites."""
    return [read_file(site, posts_dir, Path(path)) for path in paths]


def decode(source: str, result: FileResult) -> Iterator[Post | PostProblem | None]:
    for kind, *fields in result:
        if kind == "post":
            yield Post._make(fields)
        elif kind == "unpublished":
            yield None
        else:
            yield PostProblem(source, fields[0], kind == "skipped")


def gather(
    results: Iterable[tuple[str, FileResult]], *, now: datetime, future: bool = False
) -> Collected:
    """Sort what the files gave into posts, problems and posts left out on purpose."""
    posts: list[Post] = []
    problems: list[PostProblem] = []
    excluded = 0
    cutoff = timestamp_us(now)
    release: int | None = None
    for source, result in results:
        if len(result) == 1 and result[0][0] == "post":  # the usual case, made quick
            post = Post._make(result[0][1:])
            if post.timestamp_us <= cutoff or future:
                posts.append(post)
                continue
        for item in decode(source, result):
            if isinstance(item, PostProblem):
                problems.append(item)
            elif item is None:
                excluded += 1
            elif item.timestamp_us > cutoff and not future:
                excluded += 1
                release = item.timestamp_us if release is None else min(release, item.timestamp_us)
            else:
                posts.append(item)
    return Collected(posts, problems, excluded, release)


def collect(
    site: Site,
    posts_dir: Path,
    *,
    now: datetime,
    future: bool = False,
    files: Iterable[Path] | None = None,
) -> Collected:
    """Read every post file; the problems come back as values, not exceptions."""
    paths = [str(path) for path in (files if files is not None else post_files(posts_dir))]
    results = read_batch(site, posts_dir, paths)
    return gather(zip(paths, results, strict=True), now=now, future=future)


def read_text(path: Path, site_dir: Path, max_bytes: int) -> str:
    """The file's text, read safely: see ``read_bytes``."""
    data = read_bytes(path, site_dir, max_bytes)
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise BadPost(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


def read_bytes(path: Path, site_dir: Path | None, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; BadPost for anything else.

    A symbolic link is followed only to a file inside ``site_dir``, as Jekyll's
    safe mode does, so a post cannot publish /etc/passwd; the rest is
    ``read_regular``'s: no FIFO, no device, nothing over the cap. The usual
    post, a plain file, is opened straight away; only a path that will not
    open so is asked whether it is a link, saving that question for the rest.
    """
    try:
        data = read_unless_link(path, max_bytes, "max_post_bytes")
        if data is None:  # a link, or a file that will not open: this way says which and why
            target = _link_target(path, site_dir) if path.is_symlink() else path
            data = read_regular(target, max_bytes, "max_post_bytes")
    except Unreadable as exc:
        raise BadPost(str(exc)) from None
    return data


def _link_target(path: Path, site_dir: Path | None) -> Path:
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise BadPost("a symbolic link to nothing (its target is missing or a loop)") from None
    if site_dir is not None and not target.is_relative_to(site_dir.resolve()):
        raise BadPost("a symbolic link to outside the site, which Jekyll's safe mode ignores too")
    if target.is_dir():
        raise BadPost("a symbolic link to a folder, which Jekyll does not read posts through")
    return target


def split_front_matter(text: str) -> tuple[str, str] | None:
    """(front matter, body), or None when the file has no front matter.

    python-frontmatter's YAML handler, which, unlike Jekyll, also accepts
    blank lines before the opening ``---``, as the real site's posts need.
    """
    text = text.lstrip("\r\n\t ")
    if not _HANDLER.detect(text):
        return None
    try:
        front, body = _HANDLER.split(text)
    except ValueError:
        return None
    return front, body.lstrip("\r\n")


def read_body(post: Post, max_bytes: int = DEFAULT_MAX_POST_BYTES) -> str:
    """The Markdown or HTML under the front matter, for a post that is being rendered.

    The post's fields came from an earlier read of the file, maybe by an
    earlier build; if its front matter has changed since (an edit that kept
    the file's size and stamps), the body would not belong to the entry's
    title and date, so it is refused. The change is picked up once the file's
    stamp moves, which the scan's ctime ensures for any later edit.
    """
    parts = split_front_matter(read_text(post.path, None, max_bytes))
    front, body = parts if parts else ("", "")
    if front_hash(front) != post.front_hash:
        raise BadPost("its front matter changed since it was read; content left out for now")
    return body


def front_hash(front: str) -> str:
    return hashlib.blake2b(front.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def load_front_matter(front: str, first_line: int = 1) -> dict[str, Any]:
    """The front matter as a mapping; ``first_line`` is the file line of the opening ``---``."""
    try:
        data = yamlsafe.load(front)
    except yaml.constructor.ConstructorError as exc:
        tag = getattr(exc, "problem", "") or ""
        found = re.search(r"tag '([^']*)'", tag)
        name = found.group(1).replace("tag:yaml.org,2002:", "!!") if found else "an unknown tag"
        raise BadPost(f"front matter uses the YAML tag {name}, which is not allowed") from None
    except (yamlsafe.TooManyAliases, yamlsafe.RecursiveAlias, yamlsafe.TooDeep) as exc:
        raise BadPost(f"front matter refused: {exc.problem}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + first_line}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise BadPost(f"front matter is not valid YAML{where}: {problem}") from None
    except (ValueError, OverflowError) as exc:  # PyYAML's int() of a value such as 0x_
        raise BadPost(f"front matter has a value YAML cannot read: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadPost(f"front matter is a {type(data).__name__}, not a mapping of keys")
    return data


def parse_date(value: Any, tz: ZoneInfo) -> datetime | None:
    """A timezone-aware datetime from what YAML gave; None when it is not a date.

    PyYAML turns ``2021-12-08 10:46:18`` into a naive datetime (the site's zone
    applies), ``2022-05-24`` into a date (midnight in the site's zone), and
    leaves ``2022-05-24 20:51:19 +0800`` a string, so strings are parsed too.
    """
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=tz)
    elif isinstance(value, date):
        moment = datetime.combine(value, time(), tzinfo=tz)
    elif isinstance(value, str):
        moment = parse_date_text(value, tz)
    else:
        return None
    return moment if moment is not None and FIRST_YEAR <= moment.year <= LAST_YEAR else None


def parse_date_text(value: str, tz: ZoneInfo) -> datetime | None:
    match = DATE_TEXT.match(value.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
            tzinfo=parse_offset(offset) if offset else tz,
        )
    except ValueError:  # no such day, or an offset of a day or more
        return None
    return moment


def parse_offset(text: str) -> timezone:
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


TEXT_KEYS = ("title", "slug", "date", "permalink")
NAME_KEYS = ("categories", "category", "tags", "tag")
_CHECKED_KEYS = TEXT_KEYS + NAME_KEYS
_PLAIN_TYPES = (str, int, float, date)
_SHAPES = {set: "a set", frozenset: "a set", dict: "a mapping", list: "a list", tuple: "a list"}


def is_plain(value: Any) -> bool:
    """Text, a number, true/false or a date: what has one written form in every process.

    A set's order changes from one process to the next (string hashing is
    randomised), and a mapping or a nested list has no form a reader expects as
    a title or a category name, so they never become text.
    """
    return isinstance(value, _PLAIN_TYPES)


def plain_values(data: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    """The front matter with every value feeds turns into text made plain: a set, mapping,
    nested list or binary data where text (or a list of it) belongs is dropped with a warning.

    Nearly every post holds only text there, so that is checked first, and such
    front matter comes back as it is, not copied."""
    for key in _CHECKED_KEYS:
        value = data.get(key)
        if value is not None and not isinstance(value, _PLAIN_TYPES):
            break
    else:
        return data
    cleaned = dict(data)
    for key in _CHECKED_KEYS:
        value = cleaned.get(key)
        if value is None or is_plain(value):
            continue
        if key in NAME_KEYS and isinstance(value, list):
            kept = [item for item in value if item is None or is_plain(item)]
            if len(kept) < len(value):
                odd = next(item for item in value if not (item is None or is_plain(item)))
                warnings.append(f"{key}: {_shape(odd)} inside the list ignored (names are text)")
            cleaned[key] = kept
            continue
        expected = "text or a list of text" if key in NAME_KEYS else "text"
        warnings.append(f"{key}: {_shape(value)} where {expected} belongs; ignored")
        del cleaned[key]
    return cleaned


def _shape(value: Any) -> str:
    if isinstance(value, bytes):
        return "binary data"
    return _SHAPES.get(type(value), f"a {type(value).__name__}")


def as_names(value: Any, *, split: bool) -> list[str]:
    """Jekyll's reading of category/tag values: a list, or a string split on whitespace."""
    if value is None:
        return []
    if isinstance(value, str):
        return value.split() if split else [value]
    if isinstance(value, list | tuple):
        names: list[str] = []
        for item in value:
            names.extend(as_names(item, split=False))
        return names
    return [str(value)]


def jekyll_categories(data: dict[str, Any]) -> tuple[str, ...]:
    """Jekyll's Document#populate_categories: ``categories`` split, plus ``category``."""
    plural = as_names(data.get("categories"), split=True)
    singular = as_names(data["category"], split=False) if "category" in data else plural
    return tuple(dict.fromkeys(name for name in plural + singular if name != ""))


def jekyll_tags(data: dict[str, Any]) -> tuple[str, ...]:
    """Utils.pluralized_array_from_hash(data, 'tag', 'tags')."""
    if "tag" in data and data["tag"] is not None:
        return tuple(dict.fromkeys(as_names(data["tag"], split=False)))
    return tuple(dict.fromkeys(as_names(data.get("tags"), split=True)))


def titleize(slug: str) -> str:
    """Jekyll's Utils.titleize_slug: 'my-first-post' -> 'My First Post'."""
    return " ".join(word[:1].upper() + word[1:].lower() for word in slug.split("-"))


def clean_line(text: str) -> str:
    """A one-line value: whitespace runs (newlines included) become one space, and the
    control characters (which XML forbids or no reader shows) go."""
    return " ".join(_CONTROL.sub("", text).split())


def read_post(site: Site, posts_dir: Path, path: Path, warnings: list[str]) -> Post | None:
    """One file to one Post; None when it says ``published: false``; BadPost when unusable."""
    match = FILENAME.match(path.name)
    if not match:
        raise BadPost("file name is not YYYY-MM-DD-title.ext, so Jekyll does not publish it")
    name_date, name_slug, extension = match.groups()
    text = read_text(path, posts_dir.parent, site.max_post_bytes)
    if not text.strip():
        raise BadPost("the file is empty")
    parts = split_front_matter(text)
    if parts is None:
        raise BadPost("no front matter (a post starts with a line '---')")
    leading_lines = text[: len(text) - len(text.lstrip())].count("\n")
    data = load_front_matter(parts[0], first_line=leading_lines + 1)
    if data.get("published") is False:
        return None
    data = plain_values(data, warnings)

    moment = resolve_date(data, name_date, site.timezone, warnings)
    url_moment = jekyll_url_date(data.get("date"), moment)
    slug = str(data["slug"]) if data.get("slug") not in (None, "") else name_slug.rstrip(".")
    title = post_title(data.get("title"), slug, warnings)
    try:
        author = clean_line(parse_author(data.get("author")) or "") or site.author
    except ValueError as exc:
        warnings.append(f"author: {exc}; using the site's author")
        author = site.author
    if author:  # the site's may be None
        author = clipped("author", author, MAX_NAME, warnings)
    categories = jekyll_categories(data)
    if (longest := max(map(len, categories), default=0)) > MAX_NAME:
        raise BadPost(f"a category name of {longest:,} characters (at most {MAX_NAME})")
    tags = jekyll_tags(data)
    if max(map(len, tags), default=0) > MAX_NAME:
        tags = tuple(name for name in tags if len(name) <= MAX_NAME)
        warnings.append(f"tags: names over {MAX_NAME} characters left out")
    facts = PostFacts(
        date=url_moment.astimezone(site.timezone),
        slug=slug,
        categories=categories,
        extension=extension,
        path=path,
        posts_dir=posts_dir,
    )
    template = str(data["permalink"]) if data.get("permalink") else template_for(site.permalink)
    try:
        path_part = url_path(template, facts)
    except ValueError as exc:
        raise BadPost(f"permalink: {exc}") from None
    return Post(
        source=str(path),
        slug=slug,
        title=title,
        timestamp_us=timestamp_us(moment),
        utc_offset=int(moment.utcoffset().total_seconds()),
        categories=categories,
        tags=tags,
        url=site.absolute(encode_url_path(path_part)),
        author=author,
        is_markdown=extension.lower() in MARKDOWN_EXTENSIONS,
        front_hash=front_hash(parts[0]),
    )


def post_title(value: Any, slug: str, warnings: list[str]) -> str:
    """The title as one clean line; Jekyll's title from the slug when there is none."""
    raw = str(value or "")
    # readers show titles as text, as jekyll-feed makes them; no '<', no tag to strip
    title = clean_line(strip_html(raw) if "<" in raw else raw)
    if title:
        if _CONTROL.search(raw):
            warnings.append(f"title: control characters removed, giving {title!r}")
        return clipped("title", title, MAX_TITLE, warnings)
    if not slug:
        raise BadPost("no title, and no slug in the file name to make one from")
    title = titleize(slug)
    warnings.append(f"no title; using {title!r} from the file name, as Jekyll does")
    return title


def clipped(key: str, text: str, most: int, warnings: list[str]) -> str:
    """``text`` cut to ``most`` characters, with a warning when it had more.

    Every entry of a feed carries its title and author, and a feed has a byte
    cap: one post with a title of megabytes would push every other entry out.
    """
    if len(text) <= most:
        return text
    warnings.append(f"{key}: {len(text):,} characters, cut to {most}")
    return text[: most - 1].rstrip() + "…"


def jekyll_url_date(value: Any, moment: datetime) -> datetime:
    """The instant Jekyll files the page under, which is not always the post's real time.

    Ruby's YAML reads a timestamp without an offset (``2021-12-08 20:00:00``)
    as UTC, so Jekyll puts that post's page under the next day in Shanghai.
    Readers should see the time the author meant (the site's zone), but the
    link must point where the page really is.
    """
    if isinstance(value, datetime) and value.tzinfo is None:
        return parse_date(value, UTC) or moment
    return moment


def resolve_date(
    data: dict[str, Any], name_date: str, tz: ZoneInfo, warnings: list[str]
) -> datetime:
    """The front matter's date wins over the file name's, as in Jekyll."""
    from_name = name_date_moment(name_date, tz)
    if "date" in data and data["date"] is not None:
        from_front = parse_date(data["date"], tz)
        if from_front is not None:
            return from_front
        shown = shown_date(data["date"])
        if from_name is None:
            raise BadPost(
                f"no usable date: front matter date {shown} is not a date "
                f"and the file name's date {name_date!r} is not a calendar date"
            )
        warnings.append(f"date {shown} is not a date; using {name_date} from the file name")
        return from_name
    if from_name is None:
        raise BadPost(f"no usable date: {name_date!r} in the file name is not a calendar date")
    return from_name


@lru_cache(maxsize=4096)
def name_date_moment(name_date: str, tz: ZoneInfo) -> datetime | None:
    """Midnight of a file name's date in the site's zone; None when it is not a calendar date.

    Remembered, as a site has many posts a day and this is asked for each.
    """
    moment = parse_date(name_date, tz)
    if moment is None:
        # Jekyll reads '2021-1-5' as well as '2021-01-05'.
        y, m, d = (int(part) for part in name_date.split("-"))
        try:
            moment = parse_date(date(y, m, d), tz)
        except ValueError:
            moment = None
    return moment


def shown_date(value: Any) -> str:
    """A front matter date as the author wrote it, saying why a real date is refused."""
    if isinstance(value, date):
        return f"{value.isoformat()!r} (outside the years {FIRST_YEAR} to {LAST_YEAR})"
    return repr(value)
