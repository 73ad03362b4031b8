"""Entry links are the URLs Jekyll 4.3 itself gives the posts (golden files from real Jekyll)."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from feeds.config import load_settings
from feeds.site.collect import collect
from feeds.site.permalink import (
    PLACEHOLDERS,
    PostFacts,
    check_permalink,
    encode_url_path,
    escape_path,
    placeholders,
    post_path,
    sanitize_url,
    slugify,
    url_path,
)
from tests.conftest import NOW, examples, outcome

HERE = Path(__file__).parent
FIXTURE = HERE / "fixtures" / "permalinks"
GOLDEN = json.loads((HERE / "golden" / "permalinks.json").read_text(encoding="utf-8"))


def our_urls(tmp_path: Path, permalink: str) -> dict[str, str]:
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"site": {"permalink": permalink}}), encoding="utf-8")
    settings = load_settings(config, site_dir=FIXTURE)
    collected = collect(settings.site, settings.posts_dir, now=NOW)
    prefix = settings.site.url
    return {
        post.path.relative_to(FIXTURE).as_posix(): post.url.removeprefix(prefix)
        for post in collected.posts
    }


@pytest.mark.parametrize("permalink", sorted(GOLDEN["urls"]))
def test_post_urls_equal_jekylls(tmp_path, permalink):
    assert our_urls(tmp_path, permalink) == GOLDEN["urls"][permalink]


def test_slugify_keeps_letters_of_any_script_and_pretty_punctuation():
    assert slugify("Mixed Case & Spaces", pretty=True, cased=True) == "Mixed-Case-&-Spaces"
    assert slugify("Mixed Case & Spaces") == "mixed-case-spaces"
    assert slugify("中文 标题") == "中文-标题"


def test_escape_and_sanitize_never_leave_the_site_root():
    assert sanitize_url("/" + escape_path("../../etc") + "/x.html") == "/etc/x.html"
    assert escape_path("c#") == "c%23"


def test_unknown_placeholder_is_rejected():
    with pytest.raises(ValueError, match="unknown placeholder ':nope'"):
        check_permalink("/:nope/:title/")


def test_a_permalink_with_spaces_and_angle_brackets_is_percent_encoded(tmp_path):
    from tests.conftest import SiteMaker, post_text

    site = SiteMaker(tmp_path / "site")
    site.post("2022-05-24-a.md", post_text(extra='permalink: "/a b<c>?d#e%/:title/"'))
    settings = load_settings(None, site_dir=site.root)
    [post] = collect(settings.site, settings.posts_dir, now=NOW).posts
    assert post.url == "https://example.org/a%20b%3Cc%3E%3Fd%23e%25/a/"


def test_percent_encoding_keeps_jekylls_own_escapes():
    assert encode_url_path("/21shijijingjibaodao%20%20nancailicaitong/x.html") == (
        "/21shijijingjibaodao%20%20nancailicaitong/x.html"
    )
    assert encode_url_path("/中文/x y.html") == "/%E4%B8%AD%E6%96%87/x%20y.html"


# --- the fast paths give what the plain rules give ----------------------------------------------
# slugify and url_path take shortcuts (a regex for ASCII, a translation table, a template parsed
# once); the rules below are the plain ones they replaced, kept as the reference.


def slug_by_character(text: str, *, pretty: bool = False, cased: bool = False) -> str:
    """Jekyll's Utils.slugify, one character at a time through the Unicode database."""
    extra = set("._~!$&'()+,;=@") if pretty else set()
    out: list[str] = []
    for char in text:
        category = unicodedata.category(char)
        if category[0] in "LM" or category == "Nd" or char in extra:
            out.append(char)
        elif not out or out[-1] != "\0":
            out.append("\0")
    slug = "".join(out).replace("\0", "-").removeprefix("-").removesuffix("-")
    return slug if cased else slug.lower()


def path_by_callback(template: str, facts: PostFacts) -> str:
    """Jekyll's URL#generate_url_from_drop, one regex callback per placeholder."""

    def key_of(name: str) -> str:
        return name if name in PLACEHOLDERS else name[:-1] if name.endswith("_") else ""

    keys = {key_of(name) for name in re.findall(r":([a-z_]+)", template)}
    values = placeholders(facts, keys & PLACEHOLDERS)

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if key_of(name) not in PLACEHOLDERS:
            raise ValueError(f"unknown placeholder ':{name}'")
        return escape_path(values[key_of(name)]) + name[len(key_of(name)) :]

    return sanitize_url(re.sub(r":([a-z_]+)", fill, template))


ascii_text = st.text(st.characters(max_codepoint=127), max_size=40)
any_text = st.text(st.characters(exclude_categories=()), max_size=40)  # lone surrogates too
mixed_text = st.lists(st.one_of(ascii_text, any_text, st.sampled_from(["-", "\0", "é", "İ", "ß"])))


@hypothesis_settings(max_examples=examples(300))
@given(
    text=st.one_of(ascii_text, any_text, mixed_text.map("".join)),
    pretty=st.booleans(),
    cased=st.booleans(),
)
@example(text="--a--b--", pretty=False, cased=False)
@example(text="\0x\0", pretty=True, cased=True)
@example(text="Ǆemal İstanbul", pretty=False, cased=False)
def test_slugify_equals_the_per_character_rule(text, pretty, cased):
    assert slugify(text, pretty=pretty, cased=cased) == slug_by_character(
        text, pretty=pretty, cased=cased
    )


POSTS = Path("/site/_posts")
template_part = st.one_of(
    st.sampled_from(sorted(PLACEHOLDERS)).map(lambda key: f":{key}"),
    st.sampled_from(["month_", "day_", "title_", "nope", "titles", "x_"]).map(lambda n: f":{n}"),
    st.text(st.sampled_from("/.:_-{}%#?ab 中"), max_size=4),
)
facts = st.builds(
    PostFacts,
    date=st.datetimes(
        min_value=datetime(1000, 1, 2), max_value=datetime(9998, 12, 30), timezones=st.just(None)
    ).map(lambda moment: moment.replace(tzinfo=timezone(timedelta(hours=8)))),
    slug=st.one_of(ascii_text, any_text),
    categories=st.lists(st.one_of(ascii_text, any_text), max_size=3).map(tuple),
    extension=st.sampled_from([".md", ".MD", ".html", ".txt", ".m d"]),
    path=st.one_of(
        st.sampled_from(["2022-05-24-a.md", "sub/2022-05-24-b.c.md", "2022-05-24-x..md"]).map(
            POSTS.joinpath
        ),
        st.just(Path("/elsewhere/2022-05-24-a.md")),  # not under posts_dir: a ValueError
    ),
    posts_dir=st.just(POSTS),
)


@hypothesis_settings(max_examples=examples(300))
@given(parts=st.lists(template_part, max_size=8), facts=facts)
@example(
    parts=["/", ":categories", "/", ":year", "/", ":month_", ":day", ":title", ":output_ext"],
    facts=PostFacts(
        datetime(2022, 5, 24, tzinfo=UTC),
        "a b",
        ("X",),
        ".md",
        POSTS / "2022-05-24-a b.md",
        POSTS,
    ),
)
@example(
    parts=["/{", ":title", "}/", ":nope", ":path"],
    facts=PostFacts(
        datetime(2022, 5, 24, tzinfo=UTC), "a", (), ".md", Path("/elsewhere/x.md"), POSTS
    ),
)
def test_url_path_equals_filling_placeholders_one_by_one(parts, facts):
    template = "".join(parts)
    assert outcome(url_path, template, facts, catch=ValueError) == outcome(
        path_by_callback, template, facts, catch=ValueError
    )


@hypothesis_settings(max_examples=examples(200))
@given(parts=st.lists(template_part, max_size=8), facts=facts)
def test_post_path_with_every_value_equals_filling_placeholders_one_by_one(parts, facts):
    template = "".join(parts)
    facts = facts._replace(path=POSTS / "2022-05-24-a.md")
    values = placeholders(facts)
    assert outcome(post_path, template, values, catch=ValueError) == outcome(
        path_by_callback, template, facts, catch=ValueError
    )
