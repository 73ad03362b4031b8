"""Property: after any sequence of changes, an incremental build's tree equals a cold build's.

A cold build here starts without cache and with an empty output folder, but
with the warm build's list of published feeds (``published.json``), which is
what decides that a feed without posts stays as an empty feed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from feeds.config import load_settings
from feeds.output.build import build
from feeds.output.registry import FILE as REGISTRY
from tests.conftest import NOW, SiteMaker, examples, post_text

CATEGORIES = ["kejiribao", "emnews", "TechWeb", "科技 日报"]
TAGS = ["财经", "新闻", "a b"]
START = NOW - timedelta(days=3)


def tree(out: Path) -> dict[str, bytes | None]:
    if not out.exists():
        return {}
    return {
        str(p.relative_to(out)): p.read_bytes() if p.is_file() else None
        for p in sorted(out.rglob("*"))
    }


class Site(RuleBasedStateMachine):
    """A site edited step by step, built warm after each step and compared with a cold build."""

    def __init__(self):
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="feeds-property-"))
        self.site = SiteMaker(self.root / "site")
        self.posts: dict[str, dict] = {}  # file name -> fields
        self.config = {
            "limit": 2,
            "formats": "[atom, rss]",
            "tags": "false",
            "title": "",
            "window": "3h",
            "max_entries": 1000,
            "max_bytes": 1048576,
            "pages": "false",
            "summary_length": 140,
            "emnews_window": "3h",
        }
        self.now = NOW
        self.serial = 0

    def teardown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def settings(self, name: str):
        c = self.config
        text = (
            f"output: {name}-out\nstate_dir: {name}-state\n"
            f"feeds: {{limit: {c['limit']}, formats: {c['formats']}, tags: {c['tags']}"
            f", window: {c['window']}, max_entries: {c['max_entries']}"
            f", max_bytes: {c['max_bytes']}, pages: {c['pages']}"
            f", summary_length: {c['summary_length']}"
            f", categories: {{emnews: {{title: '{c['title'] or 'emnews'}', window: {c['emnews_window']}}}}}"
            + "}\n"
        )
        path = self.root / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        return load_settings(path, site_dir=self.site.root)

    def write(self, name: str) -> None:
        fields = self.posts[name]
        extra = f"tags: {fields['tags']}\n" + ("published: false\n" if fields["hidden"] else "")
        self.site.post(
            name,
            post_text(
                title=fields["title"],
                date=fields["date"],
                categories=fields["categories"],
                body=fields["body"],
                extra=extra,
            ),
        )

    @rule(
        hours=st.integers(0, 100),
        categories=st.lists(st.sampled_from(CATEGORIES), max_size=2, unique=True),
        tags=st.lists(st.sampled_from(TAGS), max_size=2, unique=True),
        folder=st.sampled_from(["", "", "sub/"]),
    )
    def add(self, hours, categories, tags, folder):
        self.serial += 1
        moment = START + timedelta(hours=hours)
        name = f"{folder}{moment:%Y-%m-%d}-p{self.serial}.md"
        self.posts[name] = {
            "title": f"标题{self.serial}",
            "date": f"{moment:%Y-%m-%d %H:%M:%S} +0000",
            "categories": "[" + ", ".join(f"'{c}'" for c in categories) + "]",
            "tags": "[" + ", ".join(f"'{t}'" for t in tags) + "]",
            "body": f"正文{self.serial}。",
            "hidden": False,
        }
        self.write(name)

    def pick(self, data) -> str:
        return data.draw(st.sampled_from(sorted(self.posts)))

    @precondition(lambda self: self.posts)
    @rule(data=st.data(), text=st.text("甲乙丙abc", min_size=1, max_size=6))
    def edit_title(self, data, text):
        name = self.pick(data)
        self.posts[name]["title"] = text
        self.write(name)

    @precondition(lambda self: self.posts)
    @rule(data=st.data(), restore_mtime=st.booleans())
    def edit_body_same_size(self, data, restore_mtime):
        """Same size; with ``restore_mtime``, the mtime is put back as a careless copy does."""
        name = self.pick(data)
        path = self.site.posts / name
        before = path.stat()
        body = self.posts[name]["body"]
        self.posts[name]["body"] = body[::-1] if body[::-1] != body else body[1:] + body[0]
        self.write(name)
        if restore_mtime and path.stat().st_size == before.st_size:
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))

    @precondition(lambda self: self.posts)
    @rule(data=st.data(), size=st.integers(500, 2500))
    def lengthen_body(self, data, size):
        """Kilobytes of text, so that a small ``max_bytes`` has something to cut."""
        name = self.pick(data)
        self.posts[name]["body"] = f"长文{self.serial}" + "正文。" * size
        self.write(name)

    @precondition(lambda self: self.posts)
    @rule(data=st.data(), hours=st.integers(0, 100))
    def edit_date(self, data, hours):
        name = self.pick(data)
        self.posts[name]["date"] = f"{START + timedelta(hours=hours):%Y-%m-%d %H:%M:%S} +0000"
        self.write(name)

    @precondition(lambda self: self.posts)
    @rule(data=st.data(), categories=st.lists(st.sampled_from(CATEGORIES), max_size=2))
    def change_categories(self, data, categories):
        name = self.pick(data)
        self.posts[name]["categories"] = "[" + ", ".join(f"'{c}'" for c in categories) + "]"
        self.write(name)

    @precondition(lambda self: self.posts)
    @rule(data=st.data())
    def toggle_published(self, data):
        name = self.pick(data)
        self.posts[name]["hidden"] = not self.posts[name]["hidden"]
        self.write(name)

    @precondition(lambda self: self.posts)
    @rule(data=st.data())
    def delete(self, data):
        name = self.pick(data)
        del self.posts[name]
        (self.site.posts / name).unlink()

    @precondition(lambda self: self.posts)
    @rule(data=st.data())
    def rename(self, data):
        name = self.pick(data)
        self.serial += 1
        folder, _, base = name.rpartition("/")
        new = f"{folder}/" * bool(folder) + f"{base[:10]}-r{self.serial}.md"
        self.posts[new] = self.posts.pop(name)
        (self.site.posts / name).rename(self.site.posts / new)

    @rule(
        limit=st.integers(1, 3),
        formats=st.sampled_from(["[atom, rss]", "[atom]", "[rss]", "[json]", "[atom, rss, json]"]),
        tags=st.sampled_from(["true", "false"]),
        title=st.sampled_from(["", "东方财富"]),
        window=st.sampled_from(["1h", "3h", "2d"]),
        max_entries=st.sampled_from([3, 1000]),
        max_bytes=st.sampled_from([10000, 1048576]),
        pages=st.sampled_from(["true", "false"]),
        summary_length=st.sampled_from([20, 140]),
        emnews_window=st.sampled_from(["1h", "3h", "3d"]),
    )
    def change_config(self, **config):
        self.config = config

    @rule(
        timezone=st.sampled_from(["Asia/Shanghai", "UTC", "America/New_York"]),
        permalink=st.sampled_from(
            ["date", "pretty", "none", "/:categories/:title/", "/:year/:slug"]
        ),
        url=st.sampled_from(["https://example.org", "https://example.org/news"]),
    )
    def change_site_config(self, timezone, permalink, url):
        """_config.yml edits: every URL and date the posts give may change."""
        self.site.config(
            f"title: 测试站\nlang: zh-CN\nurl: {url}\ntimezone: {timezone}\n"
            f"permalink: {permalink}\nauthor: Tester\n"
        )

    @rule(hours=st.integers(1, 72))
    def time_passes(self, hours):
        self.now += timedelta(hours=hours)

    @invariant()
    def warm_equals_cold(self):
        warm = self.settings("warm")
        build(warm, now=self.now)
        cold = self.settings("cold")
        shutil.rmtree(cold.output, ignore_errors=True)
        shutil.rmtree(cold.state_dir, ignore_errors=True)
        cold.state_dir.mkdir()
        registry = (warm.state_dir / REGISTRY).read_text(encoding="utf-8")
        moved = registry.replace(str(warm.output.resolve()), str(cold.output.resolve()))
        (cold.state_dir / REGISTRY).write_text(moved, encoding="utf-8")
        build(cold, now=self.now)
        assert tree(warm.output) == tree(cold.output)


# Quick by default (CI); HYPOTHESIS_PROFILE=long runs many more (see tests/conftest.py).
Site.TestCase.settings = settings(
    max_examples=examples(10),
    stateful_step_count=6,
    deadline=None,
)
test_warm_builds_equal_cold_builds_after_any_changes = Site.TestCase
