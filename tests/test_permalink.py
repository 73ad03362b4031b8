"""Entry links are the URLs Jekyll 4.3 itself gives the posts (golden files from real Jekyll)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from feeds.config import load_settings
from feeds.site.collect import collect
from feeds.site.permalink import (
    check_permalink,
    encode_url_path,
    escape_path,
    sanitize_url,
    slugify,
)
from tests.conftest import NOW

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
