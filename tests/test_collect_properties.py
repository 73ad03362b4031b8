"""Properties of reading posts, whatever the posts hold (hypothesis).

Random front matter (scalars, lists, maps, anchors and aliases, tags, valid and
invalid timestamps, control characters), random file names and random
Markdown and HTML bodies full of markup that must not survive. Whatever they
are: nothing raises out of collect or build, every feed parses without bozo
and validates against RFC 4287's schema, no field a reader renders as HTML
carries active markup, a second build changes no byte, and a cold build in
another process (another string hash seed) gives the same files.

HYPOTHESIS_PROFILE=long runs fifty times as many examples.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import feedparser
import lxml.html
import yaml
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from lxml import etree

from feeds.config import load_settings
from feeds.output.build import build
from feeds.site.collect import collect
from tests.conftest import ATOM_RNG, NOW, SITE_CONFIG, examples, feeds_args

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"

# --- front matter ------------------------------------------------------------------------------

awkward_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"])
    | st.sampled_from("\x00\x01\x0b\x1b\x7f\x85\u2028\ufeff\uffff<>&\"'#%?"),
    max_size=30,
)
timestamp_text = st.sampled_from(
    [
        "2022-05-24",
        "2022-05-24 20:51:19 +0800",
        "2022-05-24 20:51:19 +08:00",
        "2022-05-24T20:51:19Z",
        "2021-12-08 10:46:18",
        "2022-13-45",
        "2022-02-30",
        "2022-01-05 10:00:00 +25:00",
        "0001-01-01 00:00:00 +08:00",
        "0001-01-01",
        "9999-12-31 23:59:59 -08:00",
        "9999-12-31",
        "2022-05-24 25:61:61",
        " +0800",
    ]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    awkward_text,
    timestamp_text,
    st.dates(),
    st.datetimes(),
)
# YAML sets (!!set {a, b}): their order differs from one process to the next
sets = st.frozensets(awkward_text | st.integers(-9, 9) | timestamp_text, max_size=4)
values = st.recursive(
    scalars | sets,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(awkward_text, inner, max_size=3),
    max_leaves=8,
)
KEYS = ["title", "date", "categories", "category", "tags", "tag", "author", "permalink", "slug"]
KEYS += ["published", "layout"]
raw_lines = st.sampled_from(
    [
        "date: 2022-13-45",
        "title: 2022-02-30",
        "date: 2022-01-05 10:00:00 +25:00",
        "date: 0001-01-01 00:00:00 +08:00",
        "date: 9999-12-31 23:00:00 -08:00",
        "base: &b [a, b]\ntags: *b",
        "cat: &c kejiribao\ncategory: *c",
        "title: &t [*t]",
        "defaults: &d {title: 默认}\n<<: *d",
        "title: !!binary aGVsbG8=",
        "title: !!python/object:os.system x",
        "title: !custom x",
        "title: !!str 2022-05-24",
        "tags: !!set {a, b}",
        "categories: !!set {c1, c2, c3, c4, c5}",
        "title: !!set {alpha, beta, gamma}",
        "categories: [c1, [c2, c3], {c4: 1}]",
        'permalink: "/a b<c>/:title"',
        'permalink: "/x\\x01y/"',
        'permalink: "/:nope/"',
        "permalink: /../../etc/:title.html",
        "title: '\\x01\\x02'",
        'title: "\\x01\\x02"',
        'author: "\\x01"',
        "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\ntitle: *e",
        "title: [unclosed",
        "published: false",
    ]
)


@st.composite
def front_matter(draw) -> str:
    data = draw(st.dictionaries(st.sampled_from(KEYS) | awkward_text, values, max_size=6))
    try:
        text = yaml.safe_dump(data, allow_unicode=draw(st.booleans()))
    except yaml.YAMLError:
        text = ""
    return text + "\n".join(draw(st.lists(raw_lines, max_size=2)))


# --- bodies ------------------------------------------------------------------------------------

HOSTILE = [
    "<script>alert(1)</script>",
    "&lt;script&gt;alert(document.cookie)&lt;/script&gt;",
    "`<img src=x onerror=alert(1)>`",
    "<img src=x onerror=alert(1)>",
    "<style>body{}</style>",
    "<iframe src='https://evil.example/'></iframe>",
    "[x](javascript:alert(1))",
    "<a href='data:text/html,<script>alert(1)</script>'>d</a>",
    "<a href=' JaVaScRiPt:alert(1)'>j</a>",
    "<svg onload=alert(1)><circle/></svg>",
    "<p onclick='x()'>p</p>",
    "&#x1; &#xFFFF; &#xB; &#0; &#xD800;",
    "<![CDATA[ ]]> <!-- c --> <?php x ?>",
    "<math><mi xlink:href='javascript:alert(1)'>m</mi></math>",
    "[link](/relative/path?q=1#f) <https://example.org/auto>",
    "<a href='//evil.example/'>protocol-relative</a>",
    "![img](x.png)",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "> quote\n\n- list\n- items\n\n```\n<code>\n```",
    "第一段。第二句！\n\n[来源](https://example.org/src) ｜ [返回](/)",
]
bodies = st.lists(st.sampled_from(HOSTILE) | awkward_text, max_size=6).map("\n\n".join)

# --- file names --------------------------------------------------------------------------------

name_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/\x00", exclude_categories=["Cs"]),
    max_size=20,
)
file_names = st.one_of(
    st.builds(
        "{}-{}.{}".format,
        st.sampled_from(["2022-05-24", "2022-1-5", "2022-02-30", "0001-01-01", "9999-12-31"]),
        name_text,
        st.sampled_from(["md", "markdown", "html", "txt"]),
    ),
    name_text.filter(bool),
)


@st.composite
def post_files(draw) -> list[tuple[str, bytes]]:
    posts = draw(st.lists(st.tuples(file_names, front_matter(), bodies), min_size=1, max_size=4))
    files: dict[str, bytes] = {}
    for name, front, body in posts:
        if len(name.encode()) > 200 or name in (".", ".."):
            continue
        files[name] = f"---\n{front}\n---\n\n{body}\n".encode("utf-8", "surrogatepass")
    return sorted(files.items())


def write_site(root: Path, files: list[tuple[str, bytes]]) -> Path:
    site = root / "site"
    (site / "_posts").mkdir(parents=True)
    (site / "_config.yml").write_text(SITE_CONFIG, encoding="utf-8")
    for name, data in files:
        (site / "_posts" / name).write_bytes(data)
    return site


# --- what readers see --------------------------------------------------------------------------


def html_fields(path: Path) -> list[str]:
    """The text of every element a reader renders as HTML."""
    document = etree.parse(str(path))
    if path.name == "atom.xml":
        return [
            element.text or ""
            for element in document.iter(f"{ATOM}content", f"{ATOM}summary")
            if element.get("type") in ("html", "xhtml")
        ]
    return [element.text or "" for element in document.iter("description", CONTENT_ENCODED)]


def active_markup(html: str) -> list[str]:
    """Scripts, styles, frames, event handlers and javascript:/data: URLs in an HTML fragment."""
    found = []
    if not html.strip():
        return found
    for element in lxml.html.fragment_fromstring(html, create_parent="div").iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag.lower() in ("script", "style", "iframe", "frame", "object", "embed"):
            found.append(element.tag)
        for name, value in element.attrib.items():
            if name.lower().startswith("on"):
                found.append(f"{name}=")
            url = "".join(value.split()).lower()
            if url.startswith(("javascript:", "data:", "vbscript:")):
                found.append(f"{name}={value}")
    return found


def feed_files(output: Path) -> dict[str, bytes]:
    return {
        path.relative_to(output).as_posix(): path.read_bytes()
        for path in sorted(output.rglob("*.xml"))
    }


def build_site(files: list[tuple[str, bytes]], root: Path) -> tuple[Path, dict[str, bytes]]:
    site = write_site(root, files)
    settings = load_settings(None, site_dir=site, output=root / "out")
    build(settings, now=NOW)
    return root / "out", feed_files(root / "out")


_SCHEMA = etree.RelaxNG(etree.parse(str(ATOM_RNG))) if ATOM_RNG.is_file() else None


@hypothesis_settings(max_examples=examples(100))
@given(files=post_files())
def test_collect_turns_any_file_into_a_post_or_one_problem(files):
    with tempfile.TemporaryDirectory() as folder:
        site = write_site(Path(folder), files)
        settings = load_settings(None, site_dir=site, output=Path(folder) / "out")
        collected = collect(settings.site, settings.posts_dir, now=NOW, future=True)
    assert len(collected.posts) + collected.excluded <= len(files)
    for problem in collected.problems:
        assert "\n" not in str(problem) and "\r" not in str(problem)


@hypothesis_settings(max_examples=examples(30))
@given(files=post_files())
def test_any_posts_build_into_valid_atom_without_active_markup_and_rebuild_identically(files):
    with tempfile.TemporaryDirectory() as folder:
        output, first = build_site(files, Path(folder))
        for relative in first:
            path = output / relative
            parsed = feedparser.parse(path.read_bytes())
            assert not parsed.bozo, f"{relative}: {parsed.get('bozo_exception')}"
            if path.name == "atom.xml":
                if _SCHEMA is not None:
                    assert _SCHEMA.validate(etree.parse(str(path))), _SCHEMA.error_log.last_error
                for html in html_fields(path):
                    assert active_markup(html) == [], (relative, html)
        settings = load_settings(None, site_dir=Path(folder) / "site", output=output)
        build(settings, now=NOW)
        assert feed_files(output) == first


@hypothesis_settings(max_examples=examples(20))
@given(files=post_files())
def test_rss_fields_readers_render_as_html_hold_no_active_markup(files):
    with tempfile.TemporaryDirectory() as folder:
        output, built = build_site(files, Path(folder))
        for relative in built:
            if relative.endswith("rss.xml"):
                for html in html_fields(output / relative):
                    assert active_markup(html) == [], (relative, html)


SET_POST = b"---\ntitle: !!set {alpha, beta}\ncategories: !!set {c1, c2, c3, c4}\n---\nx\n"


@hypothesis_settings(max_examples=examples(4), deadline=None)
@given(files=post_files())
@example(files=[("2022-05-24-a.md", SET_POST)])
def test_a_cold_build_in_two_processes_gives_the_same_tree(files):
    """Sets, mappings and nested lists in front matter must not make the output depend on
    the process (a set's order follows string hashing, which differs per process)."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        site = write_site(root, files)
        trees = []
        for seed in ("1", "2"):
            run = root / f"run{seed}"
            run.mkdir()
            env = {**os.environ, "PYTHONHASHSEED": seed}
            command = feeds_args("build", "-q", "--site", site, "--output", run / "out")
            result = subprocess.run(command, cwd=run, env=env, capture_output=True, text=True)
            assert result.returncode == 0, result.stderr
            trees.append(all_files(run / "out"))
        assert trees[0] == trees[1]


def all_files(output: Path) -> dict[str, bytes]:
    return {
        path.relative_to(output).as_posix(): path.read_bytes()
        for path in sorted(output.rglob("*"))
        if path.is_file()
    }


def test_the_active_markup_check_finds_what_it_looks_for():
    assert active_markup('<p><script>x</script><a href=" java\nscript:x">a</a></p>') == [
        "script",
        "href= java\nscript:x",
    ]
    assert active_markup("&lt;script&gt;alert(1)&lt;/script&gt; <b onclick=x>b</b>") == ["onclick="]
