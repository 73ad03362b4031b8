"""The line-by-line reader of simple front matter gives what the full YAML loader gives, or nothing.

``yamlsafe.load_simple`` may decline any text (the full loader then reads it),
but when it answers, the answer is the full loader's to the last type: True is
not 1, 1 is not 1.0, a date is not a datetime, an offset is part of a datetime.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from feeds import yamlsafe
from feeds.site.collect import split_front_matter
from tests.conftest import examples


def reference(text: str) -> Any:
    """What ``load`` gave before the fast path, and still gives for config files: a list
    for duplicates sends the text through libyaml's parser and PyYAML's constructors."""
    return yamlsafe.load(text, duplicates=[])


def exact(value: Any) -> Any:
    """A value as a comparable shape that keeps every type, key order and NaN."""
    if isinstance(value, dict):
        return (dict, [(exact(key), exact(item)) for key, item in value.items()])
    if isinstance(value, list):
        return (list, [exact(item) for item in value])
    return (type(value), repr(value))


def assert_agrees(text: str) -> Any:
    """The fast path's answer for ``text``, after checking it against the reference."""
    fast = yamlsafe.load_simple(text)
    try:
        expected = reference(text)
    except Exception:  # YAMLError, or ValueError / UnicodeEncodeError from deep inside PyYAML
        assert fast is None, f"the reference raises for {text!r}, the fast path gave {fast!r}"
        return fast
    if fast is not None:
        assert exact(fast) == exact(expected), text
    return fast


# --- text rich in YAML's special cases ----------------------------------------------------------

# Words YAML's resolver turns into something other than text, or nearly does.
RESOLVED = """
yes no on off y n Yes NO On OFF true False TRUE ~ null Null NULL
0 00 012 08 0x1F 0x_ 0o17 0b101 0b_ 1_000 +1 -1 1:30 190:20:30 1:30.5 1e3 1.5e3 1.0e+3
.5 ._ 1_.5 .inf -.inf +.INF .NaN .nan << = ... --- -- .. . +0800
2022-01-01 2022-1-1 2022-01-01T01:59:35Z 2022-01-01t01:59:35.5+08 2022-02-30 2022-13-45
post title 装不为会水 东财滚动新闻 😀 a b _
"""
DATETIMES = [
    "2022-01-01 01:59:35",
    "2022-01-01 01:59:35 +08:00",
    "2022-01-01 01:59:35 +0800",
    "2022-01-01 01:59:35.123456 -5",
    "2022-01-05 10:00:00 +25:00",
    "0001-01-01 00:00:00 +08:00",
    "9999-12-31 23:00:00 -08:00",
]
# Indicators, escapes, and words that hold them.
INDICATORS = r"""- ? : # & * ! | > ' " % @ ` , [ ] { } \ \n \" '' a#b a:b http://x.com/a?b=1#c"""
# Spaces, and characters YAML reads as spaces, line breaks or nothing at all.
ODD = " |  |: | #|\t|\r|\x85|\u2028|\u2029|\ufeff|\x00|\x1f|\x7f|\xa0|\u3000|\ud800|\ufffe"
resolved = st.sampled_from([*RESOLVED.split(), *DATETIMES])
token = st.one_of(
    resolved,
    resolved,
    st.sampled_from(INDICATORS.split()),
    st.sampled_from(ODD.split("|")),
    st.characters(codec="utf-8"),
)
word = st.lists(token, max_size=3).map("".join)
value = st.one_of(
    word, word, word.map(lambda text: f'"{text}"'), word.map(lambda text: f"'{text}'")
)
common_line = st.builds(
    "{}: {}".format, st.sampled_from(["title", "date", "tags", "layout"]), resolved
)
# A key line written right or nearly right, sometimes inside something else.
tricky_line = st.builds(
    lambda before, k, colon, v, after: before + k + colon + v + after,
    st.sampled_from(["", "", "", "", "", "", "", "", "  ", "- ", "? ", "# ", "--- ", "... "]),
    st.one_of(st.sampled_from(["title", "date", "tags", "layout"]), word),
    st.sampled_from([": ", ": ", ": ", ": ", ": ", ":", ":  ", " : ", " "]),
    value,
    st.sampled_from(["", "", "", "", "", " ", "  ", "\t", " # c"]),
)
line = st.one_of(
    *[common_line] * 4,
    *[tricky_line] * 3,
    word,
    st.sampled_from(["", "   ", "---", "..."]),
)
document = st.builds(
    lambda start, lines, end: start + end.join(lines) + end,
    st.sampled_from(["", "", "", "", "", "", "", "\n", "\ufeff", " "]),
    st.lists(line, min_size=1, max_size=5),
    st.sampled_from(["\n"] * 8 + ["\r\n", "\r", "\x85", "\u2028"]),
)


@hypothesis_settings(max_examples=examples(1000))
@given(document)
@example("date: 2022-02-30\nyes: 1\n")
@example("a: 0x_\n")
@example("a: 1\nb: 2\na: 3\n")
@example("title: 'C:\\path'\n")
def test_whatever_the_text_the_fast_path_agrees_or_declines(text):
    assert_agrees(text)


# --- the everyday shape -------------------------------------------------------------------------

plain_word = st.text(alphabet="abcxyz装不为会水东财滚动新闻0123456789", min_size=1, max_size=12)
everyday_value = st.one_of(
    plain_word,
    st.builds(lambda words: " ".join(words), st.lists(plain_word, min_size=1, max_size=4)),
    st.builds(lambda text: f'"{text}"', st.text(alphabet="装不为 a:#'[]{}-!&*", max_size=20)),
    st.builds(lambda text: f"'{text}'", st.text(alphabet='装不为 a:#"[]{}-!&*\\', max_size=20)),
    st.dates().map(str),
    st.datetimes().map(lambda moment: moment.isoformat(" ", "seconds")),
    st.datetimes().map(lambda moment: moment.isoformat(" ", "seconds") + " +08:00"),
    st.integers(min_value=1, max_value=10**9).map(str),
    st.sampled_from(["post", "true", "2022-02-30", "1.5", ""]),
)
everyday_key = st.from_regex(r"[a-z]{1,8}_?[a-z0-9]{0,8}", fullmatch=True).filter(
    lambda name: name not in {"yes", "no", "on", "off", "true", "false", "null"}
)
everyday_line = st.builds(lambda k, v: f"{k}: {v}".rstrip(" "), everyday_key, everyday_value)
everyday = st.lists(everyday_line, min_size=1).map(lambda lines: "\n" + "\n".join(lines) + "\n")


@hypothesis_settings(max_examples=examples(200))
@given(everyday)
def test_everyday_front_matter_takes_the_fast_path(text):
    assert assert_agrees(text) is not None


def insert(text: str, where: int, what: str) -> str:
    where %= len(text) + 1
    return text[:where] + what + text[where:]


def insert_line(lines: list[str], where: int, line: str) -> str:
    where %= len(lines) + 1
    return "\n".join([*lines[:where], line, *lines[where:]]) + "\n"


# Everyday front matter with a special word, an indicator or an odd space put anywhere
# (in a key, before a colon, inside quotes, at the start of a line, after a value),
# or with one line that is nearly right.
near_miss = st.one_of(
    st.builds(insert, everyday, st.integers(min_value=0), token),
    st.builds(insert_line, st.lists(everyday_line), st.integers(min_value=0), tricky_line),
)
near_miss = st.one_of(near_miss, st.builds(insert, near_miss, st.integers(min_value=0), token))


@hypothesis_settings(max_examples=examples(600))
@given(near_miss)
@example("title: a #b\n")
@example("title: a:\n")
@example('title: "a"b"\n')
@example('title: "a\\nb"\n')
@example("title: &a b\n")
@example("title: %a\n")
@example("title: - a\n")
@example("- title: a\n")
@example("... title: a\n")
@example("title: a\u3000\n")
@example("title: a\t\n")
@example("a #b: c\n")
@example("k" * 1100 + ": v\n")
def test_front_matter_one_character_away_from_everyday_agrees_or_declines(text):
    assert_agrees(text)


def test_load_reads_everyday_front_matter_without_the_parser(monkeypatch):
    monkeypatch.setattr(yamlsafe, "_FastLoader", None)  # load would fail if it built one
    assert yamlsafe.load('layout: post\ntitle: "装不为"\ndate: 2022-01-01\n') == {
        "layout": "post",
        "title": "装不为",
        "date": date(2022, 1, 1),
    }


def test_keys_written_twice_are_still_reported_from_simple_front_matter():
    duplicates: list[yamlsafe.Duplicate] = []
    assert yamlsafe.load("a: 1\nb: 2\na: 3\n", duplicates=duplicates) == {"a": 3, "b": 2}
    assert duplicates == [yamlsafe.Duplicate("a", 3, 1)]


@pytest.mark.parametrize(
    "text",
    [
        "a: b: c",
        "a: b #c",
        "a: b:",
        "a: *b",
        "a: &b c",
        "a: !!str 1",
        "a: [b]",
        "a: |",
        "a:\n  b: c",
        "a:\n- b",
        "a: b\n  c",
        "a: 'it''s'",
        'a: "\\u4e2d"',
        "yes: a",
        "1: a",
        "<<: a",
        "a: =",
        "a: 0x_",
        "\ufeffa: b",
        "a: b\r\n",
        "a: b\x85c",
        "a:\tb",
        "%YAML 1.1\n---\na: b",
        "a: b\n...\n",
        "a" * 201 + ": b",
        "",
        "\n\n",
    ],
)
def test_anything_but_the_simple_shape_goes_to_the_full_loader(text):
    assert yamlsafe.load_simple(text) is None


# --- real and generated sites -------------------------------------------------------------------

CORPORA = [Path("/work/shared/corpus/finews/_posts"), Path("/tmp/feeds-bench/site-10000/_posts")]


@pytest.mark.parametrize("posts", CORPORA, ids=lambda path: path.parent.name)
def test_every_post_of_a_corpus_reads_the_same_both_ways(posts):
    if not posts.is_dir():
        pytest.skip(f"{posts} is absent")
    fronts = []
    for path in sorted(posts.iterdir()):
        parts = split_front_matter(path.read_text(encoding="utf-8", errors="surrogateescape"))
        if parts:
            fronts.append(parts[0])
    taken = sum(assert_agrees(front) is not None for front in fronts)
    assert fronts
    assert taken >= 0.9 * len(fronts)
