"""Composing the digest: grouping, dedupe, headers that cannot be injected, and real rendering."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from feeds.newsletter.digest import Item, one_line, unique_stories
from feeds.newsletter.dispatch import preview
from feeds.site.post import Post, timestamp_us
from tests.conftest import NOW
from tests.test_dispatch import digest_config, news_site

CST = timezone(timedelta(hours=8))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def item(title: str, minute: int, link: str | None = None) -> Item:
    post = Post(
        source="x.md",
        slug=f"p{minute}",
        title=title,
        timestamp_us=timestamp_us(datetime(2026, 11, 28, 8, minute, tzinfo=CST)),
        utc_offset=8 * 3600,
        categories=("emnews",),
        tags=(),
        url=f"https://example.org/p{minute}.html",
        author=None,
        is_markdown=True,
    )
    return Item(post, "", link)


def test_one_line_removes_every_line_break_and_control_character():
    assert one_line("a\r\nBcc: x\u2028y\x00z\u200b") == "a Bcc: x y z"


def test_stories_are_the_same_by_title_or_by_source_link():
    kept = unique_stories(
        [
            item("在岸人民币 现报6.3565。", 1),
            item("在岸人民币 现报6.3565", 2),
            item("FF披露财务状况", 3, "http://a/1"),
            item("FF：有充足的现金", 4, "http://a/1"),
            item("别的新闻", 5, "http://a/2"),
        ]
    )
    assert [i.post.title for i in kept] == ["在岸人民币 现报6.3565。", "FF披露财务状况", "别的新闻"]


def overflow(html_file: Path, width: int, profile: Path) -> str:
    """Ask a real headless Chromium whether the page is wider than the window."""
    probe = html_file.with_name(f"probe-{width}.html")
    probe.write_text(
        html_file.read_text(encoding="utf-8").replace(
            "</body>",
            "<script>document.body.setAttribute('data-fit', "
            "document.documentElement.scrollWidth <= window.innerWidth ? 'fits' : "
            "'overflow ' + document.documentElement.scrollWidth);</script></body>",
        ),
        encoding="utf-8",
    )
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--hide-scrollbars",
            f"--window-size={width},900",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    marker = result.stdout.split('data-fit="', 1)
    assert len(marker) == 2, result.stderr[-2000:]
    return marker[1].split('"', 1)[0]


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium (Debian package chromium) absent")
@pytest.mark.parametrize("width", [375, 600])
def test_digest_has_no_horizontal_overflow_in_chromium(width, site, make_settings, tmp_path):
    news_site(site)
    site.post(
        "2026-11-28-long.md",
        title="超长标题" * 30 + "http://example.org/" + "x" * 200,
        date="2026-11-28 08:00:00 +0800",
        body="一" * 400 + "A" * 300,
    )
    settings = make_settings(site.root, digest_config())
    preview(settings, tmp_path / "digest.html", now=NOW, since=None, to=None)
    assert overflow(tmp_path / "digest.html", width, tmp_path / "profile") == "fits"


def test_an_edited_template_shows_in_the_next_digest(site, make_settings, tmp_path):
    import shutil

    from tests.conftest import ROOT

    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    news_site(site)
    config = digest_config().replace(str(ROOT / "templates"), str(templates))
    settings = make_settings(site.root, config)
    preview(settings, tmp_path / "before.html", now=NOW, since=None, to=None)
    page = templates / "digest.html"
    page.write_text(page.read_text(encoding="utf-8").replace("每日摘要", "晨报"), encoding="utf-8")
    preview(settings, tmp_path / "after.html", now=NOW, since=None, to=None)
    assert "每日摘要</h1>" in (tmp_path / "before.html").read_text(encoding="utf-8")
    assert "晨报</h1>" in (tmp_path / "after.html").read_text(encoding="utf-8")
