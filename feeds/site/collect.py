"""Read a Jekyll ``_posts/`` folder into ``Post`` values, the way Jekyll reads it.

One bad file never raises out of here: it becomes a ``PostProblem`` naming the
file and the reason, and every other post is still read. Where the real data
is sloppy but the intent is clear (a blank line before the opening ``---``, a
date YAML leaves as a string) we are forgiving; where Jekyll would not publish
a page at all (a file name without a date) we skip, because a feed entry must
link to a page that exists.
"""

from __future__ import annotations

import logging
import os
import re
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from stat import S_ISDIR
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import yaml
from frontmatter.default_handlers import YAMLHandler

from feeds.config import Site, parse_author
from feeds.site.permalink import MARKDOWN_EXTENSIONS, PostFacts, template_for, url_path
from feeds.site.post import Post, PostProblem, timestamp_us
from feeds.site.render import strip_html

log = logging.getLogger(__name__)

FILENAME = re.compile(r"^(\d{2,4}-\d{1,2}-\d{1,2})-(.*)(\.[^.]+)$")
DATE_TEXT = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:(?:[Tt]|\s+)(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?$"
)
_HANDLER = YAMLHandler()
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class BadPost(Exception):
    """Why one file cannot become a post. Never leaves this module."""


@dataclass(frozen=True)
class Collected:
    """What reading a site gave: the posts and every problem, in file order."""

    posts: list[Post]
    problems: list[PostProblem]
    excluded: int  # unpublished or future-dated: left out on purpose, not a problem
    next_release: int | None = None  # when the earliest future post falls due (epoch µs)


Stamps = dict[str, tuple[int, int]]  # path -> (size, mtime_ns)


class Scan(NamedTuple):
    """Every post file under a folder with its size and mtime, in a stable order:
    each folder's files by name, then its subfolders'. Two scans are equal
    exactly when no post file was added, removed or touched.

    Kept as columns rather than a dictionary: a build with nothing new only
    compares two scans, and at 100,000 posts the columns are several times
    cheaper to make, store and compare.
    """

    root: str
    names: list[str]  # relative to root
    sizes: array
    mtimes: array

    def stamps(self) -> Stamps:
        """Path -> (size, mtime_ns), in the stable order."""
        return {
            f"{self.root}/{name}": (size, mtime)
            for name, size, mtime in zip(self.names, self.sizes, self.mtimes, strict=True)
        }


def scan(posts_dir: Path) -> Scan:
    """Every file Jekyll would consider under ``_posts/``; see ``Scan``.

    Like Jekyll's EntryFilter, names starting with '.', '_' or '#' and backup
    files ending in '~' are not posts. Of everything a warm build does, this
    is the part that grows with the archive, so it stays lean: one stat per
    file, nothing else.
    """
    root = str(posts_dir)
    names: list[str] = []
    sizes, mtimes = array("q"), array("q")
    pending = [""]
    while pending:
        relative = pending.pop()
        prefix = f"{relative}/" if relative else ""
        handle = os.open(f"{root}/{relative}" if relative else root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            found = [n for n in sorted(os.listdir(handle)) if n[0] not in "._#" and n[-1] != "~"]
            stats = [os.stat(name, dir_fd=handle) for name in found]
        finally:
            os.close(handle)
        if any(S_ISDIR(status.st_mode) for status in stats):
            folders = [
                f"{prefix}{n}" for n, st in zip(found, stats, strict=True) if S_ISDIR(st.st_mode)
            ]
            pending.extend(reversed(folders))
            kept = [(n, st) for n, st in zip(found, stats, strict=True) if not S_ISDIR(st.st_mode)]
            found, stats = [n for n, _ in kept], [st for _, st in kept]
        names.extend([f"{prefix}{name}" for name in found] if prefix else found)
        sizes.extend([status.st_size for status in stats])
        mtimes.extend([status.st_mtime_ns for status in stats])
    return Scan(root, names, sizes, mtimes)


def post_files(posts_dir: Path) -> list[Path]:
    return [Path(path) for path in scan(posts_dir).stamps()]


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


def read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadPost(f"cannot read the file ({exc.strerror})") from None
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise BadPost(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


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


def read_body(post: Post) -> str:
    """The Markdown or HTML under the front matter, for a post that is being rendered."""
    parts = split_front_matter(read_text(post.path))
    return parts[1] if parts else ""


def load_front_matter(front: str, first_line: int = 1) -> dict[str, Any]:
    """The front matter as a mapping; ``first_line`` is the file line of the opening ``---``."""
    try:
        data = yaml.load(front, Loader=_SAFE_LOADER)
    except yaml.constructor.ConstructorError as exc:
        tag = getattr(exc, "problem", "") or ""
        found = re.search(r"tag '([^']*)'", tag)
        name = found.group(1).replace("tag:yaml.org,2002:", "!!") if found else "an unknown tag"
        raise BadPost(f"front matter uses the YAML tag {name}, which is not allowed") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + first_line}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise BadPost(f"front matter is not valid YAML{where}: {problem}") from None
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
        return value if value.tzinfo else value.replace(tzinfo=tz)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=tz)
    if not isinstance(value, str):
        return None
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
        )
    except ValueError:
        return None
    return moment.replace(tzinfo=parse_offset(offset) if offset else tz)


def parse_offset(text: str) -> timezone:
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


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
    """A one-line value: whitespace runs (newlines included) become one space."""
    return " ".join(text.split())


def read_post(site: Site, posts_dir: Path, path: Path, warnings: list[str]) -> Post | None:
    """One file to one Post; None when it says ``published: false``; BadPost when unusable."""
    match = FILENAME.match(path.name)
    if not match:
        raise BadPost("file name is not YYYY-MM-DD-title.ext, so Jekyll does not publish it")
    name_date, name_slug, extension = match.groups()
    text = read_text(path)
    if not text.strip():
        raise BadPost("the file is empty")
    parts = split_front_matter(text)
    if parts is None:
        raise BadPost("no front matter (a post starts with a line '---')")
    leading_lines = text[: len(text) - len(text.lstrip())].count("\n")
    data = load_front_matter(parts[0], first_line=leading_lines + 1)
    if data.get("published") is False:
        return None

    moment = resolve_date(data, name_date, site.timezone, warnings)
    url_moment = jekyll_url_date(data.get("date"), moment)
    slug = str(data["slug"]) if data.get("slug") not in (None, "") else name_slug.rstrip(".")
    title = clean_line(strip_html(str(data.get("title") or "")))
    if not title:
        title = titleize(slug)
        warnings.append(f"no title; using {title!r} from the file name, as Jekyll does")
    try:
        author = parse_author(data.get("author")) or site.author
    except ValueError as exc:
        warnings.append(f"author: {exc}; using the site's author")
        author = site.author
    categories = jekyll_categories(data)
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
        tags=jekyll_tags(data),
        url=site.absolute(path_part),
        author=author,
        is_markdown=extension.lower() in MARKDOWN_EXTENSIONS,
    )


def jekyll_url_date(value: Any, moment: datetime) -> datetime:
    """The instant Jekyll files the page under, which is not always the post's real time.

    Ruby's YAML reads a timestamp without an offset (``2021-12-08 20:00:00``)
    as UTC, so Jekyll puts that post's page under the next day in Shanghai.
    Readers should see the time the author meant (the site's zone), but the
    link must point where the page really is.
    """
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return moment


def resolve_date(
    data: dict[str, Any], name_date: str, tz: ZoneInfo, warnings: list[str]
) -> datetime:
    """The front matter's date wins over the file name's, as in Jekyll."""
    from_name = parse_date(name_date, tz)
    if from_name is None:
        # Jekyll reads '2021-1-5' as well as '2021-01-05'.
        y, m, d = (int(part) for part in name_date.split("-"))
        try:
            from_name = datetime(y, m, d, tzinfo=tz)
        except ValueError:
            from_name = None
    if "date" in data and data["date"] is not None:
        from_front = parse_date(data["date"], tz)
        if from_front is not None:
            return from_front
        if from_name is None:
            raise BadPost(
                f"no usable date: front matter date {data['date']!r} is not a date "
                f"and the file name's date {name_date!r} is not a calendar date"
            )
        warnings.append(
            f"date {data['date']!r} is not a date; using {name_date} from the file name"
        )
        return from_name
    if from_name is None:
        raise BadPost(f"no usable date: {name_date!r} in the file name is not a calendar date")
    return from_name
