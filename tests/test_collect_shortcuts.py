"""Reading a post takes shortcuts, and each gives exactly what the plain rule gives (hypothesis).

A regular file is opened without first asking whether it is a symbolic link;
a file name's date is parsed once per day, not once per post; front matter
holding only text is not copied; a title without '<' skips the tag stripper.
The plain rules they replaced are kept here as the reference, and every kind
of file system entry, date and value is run through both.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from feeds.safefile import Unreadable, read_regular
from feeds.site.collect import (
    _CONTROL,
    NAME_KEYS,
    TEXT_KEYS,
    BadPost,
    _link_target,
    _shape,
    clean_line,
    is_plain,
    jekyll_url_date,
    parse_date,
    plain_values,
    post_title,
    read_bytes,
    resolve_date,
    shown_date,
    titleize,
)
from feeds.site.render import strip_html
from tests.conftest import examples, outcome

SHANGHAI = ZoneInfo("Asia/Shanghai")


# --- opening a post file -------------------------------------------------------------------------


def read_bytes_asking_first(path: Path, site_dir: Path | None, max_bytes: int) -> bytes:
    """The plain rule: ask whether the path is a link, follow it if allowed, then read."""
    target = _link_target(path, site_dir) if path.is_symlink() else path
    try:
        return read_regular(target, max_bytes, "max_post_bytes")
    except Unreadable as exc:
        raise BadPost(str(exc)) from None


def make_entry(site: Path, kind: str, size: int) -> Path:
    """One entry of the kind asked for, at site/_posts/<kind>.md (or below it)."""
    posts, drafts = site / "_posts", site / "drafts"
    posts.mkdir(parents=True)
    drafts.mkdir()
    (drafts / "inside.md").write_bytes(b"i" * size)
    (site.parent / "outside.md").write_bytes(b"o" * size)
    entry = posts / f"{kind}.md"
    if kind == "regular":
        entry.write_bytes("字".encode() * (size // 3) + b"x" * (size % 3))
    elif kind == "link inside":
        entry.symlink_to("../drafts/inside.md")
    elif kind == "link to a link inside":
        (posts / "hop.md").symlink_to(drafts / "inside.md")
        entry.symlink_to("hop.md")
    elif kind == "link outside":
        entry.symlink_to(site.parent / "outside.md")
    elif kind == "link to a device":
        entry.symlink_to("/dev/null")
    elif kind == "dangling link":
        entry.symlink_to("nowhere.md")
    elif kind == "link to itself":
        entry.symlink_to(entry.name)
    elif kind == "link to a folder":
        entry.symlink_to("../drafts")
    elif kind == "FIFO":
        os.mkfifo(entry)
    elif kind == "link to a FIFO":
        os.mkfifo(drafts / "fifo")
        entry.symlink_to("../drafts/fifo")
    elif kind == "folder":
        entry.mkdir()
    elif kind == "under a file":  # a path through a file, as if it were a folder
        entry.write_bytes(b"x")
        entry = entry / "x.md"
    elif kind == "through a linked folder":
        (posts / "linked").symlink_to("../drafts")
        entry = posts / "linked" / "inside.md"
    return entry  # "missing": nothing made


ENTRY_KINDS = [
    "regular",
    "link inside",
    "link to a link inside",
    "link outside",
    "link to a device",
    "dangling link",
    "link to itself",
    "link to a folder",
    "FIFO",
    "link to a FIFO",
    "folder",
    "under a file",
    "through a linked folder",
    "missing",
]


@hypothesis_settings(max_examples=examples(120))
@given(
    kind=st.sampled_from(ENTRY_KINDS),
    size=st.integers(0, 300),
    max_bytes=st.integers(0, 300),
    in_site=st.booleans(),
)
@example(kind="regular", size=10, max_bytes=9, in_site=True)
@example(kind="link outside", size=1, max_bytes=9, in_site=False)
def test_reading_a_post_file_equals_asking_whether_it_is_a_link_first(
    kind, size, max_bytes, in_site
):
    with tempfile.TemporaryDirectory() as folder:
        site = Path(folder) / "site"
        entry = make_entry(site, kind, size)
        site_dir = site if in_site else None  # None: read_body's way, any link followed
        assert outcome(read_bytes, entry, site_dir, max_bytes) == outcome(
            read_bytes_asking_first, entry, site_dir, max_bytes
        )


# --- dates ---------------------------------------------------------------------------------------


def resolve_date_uncached(
    data: dict[str, Any], name_date: str, tz: ZoneInfo, warnings: list[str]
) -> datetime:
    """The plain rule: the file name's date parsed afresh for every post."""
    from_name = parse_date(name_date, tz)
    if from_name is None:
        y, m, d = (int(part) for part in name_date.split("-"))
        try:
            from_name = parse_date(date(y, m, d), tz)
        except ValueError:
            from_name = None
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


digits = st.text(st.sampled_from("0123456789٢"), min_size=1, max_size=4)  # '٢': an Arabic 2
name_dates = st.one_of(
    st.dates(min_value=date(1, 1, 1)).map(lambda day: day.isoformat()),
    st.tuples(digits, digits, digits).map("-".join),
)
front_dates = st.one_of(
    st.none(),
    st.datetimes(),
    st.datetimes(timezones=st.just(timezone(timedelta(hours=-5)))),
    st.dates(),
    st.sampled_from(["2022-05-24 20:51:19 +0800", "2022-13-45", "not a date", ""]),
    st.integers(),
)


ZONES = [SHANGHAI, ZoneInfo("America/New_York"), UTC]


@hypothesis_settings(max_examples=examples(300))
@given(name_date=name_dates, front=front_dates, has_date=st.booleans())
@example(name_date="2021-1-5", front=None, has_date=False)
@example(name_date="2021-02-30", front="x", has_date=True)
def test_resolving_a_date_equals_parsing_the_file_names_date_each_time(name_date, front, has_date):
    data = {"date": front} if has_date else {}
    for tz in ZONES * 2:  # each zone twice: the second time from what was remembered
        mine: list[str] = []
        plain: list[str] = []
        assert outcome(resolve_date, data, name_date, tz, mine) == outcome(
            resolve_date_uncached, data, name_date, tz, plain
        )
        assert mine == plain


@hypothesis_settings(max_examples=examples(200))
@given(value=front_dates, moment=st.datetimes(timezones=st.just(UTC)))
def test_the_url_date_equals_the_plain_rule(value, moment):
    plain = (
        value.replace(tzinfo=UTC)
        if isinstance(value, datetime) and value.tzinfo is None and parse_date(value, UTC)
        else moment
    )
    assert jekyll_url_date(value, moment) == plain
    assert jekyll_url_date(value, moment).tzinfo is plain.tzinfo


# --- front matter values and titles --------------------------------------------------------------


def plain_values_copying(data: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    """The plain rule: always copy, then look at each key feeds turns into text."""
    cleaned = dict(data)
    for key in TEXT_KEYS + NAME_KEYS:
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


scalars = st.one_of(
    st.none(), st.text(max_size=5), st.integers(), st.floats(), st.booleans(), st.dates()
)
odd_values = st.one_of(
    st.binary(max_size=3),
    st.frozensets(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), scalars, max_size=2),
)
values = st.one_of(scalars, odd_values, st.lists(st.one_of(scalars, odd_values), max_size=3))


@hypothesis_settings(max_examples=examples(300))
@given(
    data=st.dictionaries(
        st.sampled_from([*TEXT_KEYS, *NAME_KEYS, "layout", "author"]), values, max_size=6
    )
)
@example(data={"title": "a", "tags": ["x", {"k": 1}], "slug": b"\x00"})
def test_making_values_plain_equals_the_copying_rule(data):
    mine: list[str] = []
    plain: list[str] = []
    assert plain_values(data, mine) == plain_values_copying(data, plain)
    assert mine == plain


def post_title_stripping_always(value: Any, slug: str, warnings: list[str]) -> str:
    """The plain rule: every title through the tag stripper."""
    raw = str(value or "")
    title = clean_line(strip_html(raw))
    if title:
        if _CONTROL.search(raw):
            warnings.append(f"title: control characters removed, giving {title!r}")
        return title
    if not slug:
        raise BadPost("no title, and no slug in the file name to make one from")
    title = titleize(slug)
    warnings.append(f"no title; using {title!r} from the file name, as Jekyll does")
    return title


@hypothesis_settings(max_examples=examples(300))
@given(
    raw=st.one_of(
        st.none(),
        st.integers(),
        st.text(st.characters(exclude_categories=()) | st.sampled_from("<>/!?ab\x01 ")),
    ),
    slug=st.text(max_size=8),
)
@example(raw="a <b>bold</b> <!-- x --> title", slug="s")
@example(raw="利率<3%，涨幅>2%", slug="s")
@example(raw="<script>x</script>", slug="")
def test_a_title_equals_always_stripping_tags(raw, slug):
    mine: list[str] = []
    plain: list[str] = []
    assert outcome(post_title, raw, slug, mine) == outcome(
        post_title_stripping_always, raw, slug, plain
    )
    assert mine == plain
