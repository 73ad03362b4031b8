"""Shared fixtures: sites in tmp_path, settings, and the checks every built feed must pass."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from feeds.config import load_settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_SITE = ROOT / "examples" / "site"
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus" / "finews"
ATOM_RNG = SHARED / "schemas" / "atom.rng"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

SITE_CONFIG = """\
title: 测试站
lang: zh-CN
url: https://example.org
timezone: Asia/Shanghai
author: Tester
"""


def post_text(
    title: str | None = "标题",
    date: str | None = "2022-05-24 20:51:19 +0800",
    categories: str | None = "kejiribao",
    body: str = "正文。",
    extra: str = "",
) -> str:
    """A post in the shape of the real site's posts."""
    lines = ["---", "layout: post"]
    if title is not None:
        lines.append(f'title: "{title}"')
    if date is not None:
        lines.append(f"date: {date}")
    if categories is not None:
        lines.append(f"categories: {categories}")
    lines += [line for line in extra.splitlines() if line] + ["---", "", body, ""]
    return "\n".join(lines)


class SiteMaker:
    """Writes a small Jekyll site into a temporary folder."""

    def __init__(self, root: Path):
        self.root = root
        self.posts = root / "_posts"
        self.posts.mkdir(parents=True, exist_ok=True)
        (root / "_config.yml").write_text(SITE_CONFIG, encoding="utf-8")

    def config(self, text: str) -> None:
        (self.root / "_config.yml").write_text(text, encoding="utf-8")

    def post(self, name: str, text: str | bytes | None = None, **fields) -> Path:
        path = self.posts / name
        path.parent.mkdir(parents=True, exist_ok=True)
        content = text if text is not None else post_text(**fields)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path


@pytest.fixture(autouse=True)
def _work_in_tmp_path(tmp_path: Path, monkeypatch) -> None:
    """No test may pick up the repository's own config.yaml or write into the checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def site(tmp_path: Path) -> SiteMaker:
    return SiteMaker(tmp_path / "site")


@pytest.fixture
def example_site(tmp_path: Path) -> Path:
    target = tmp_path / "example"
    shutil.copytree(EXAMPLE_SITE, target)
    return target


@pytest.fixture
def make_settings(tmp_path: Path):
    """Settings for a site, with config.yaml written from keyword sections."""

    def make(site_dir: Path, config: str | None = None, output: Path | None = None):
        config_path = None
        if config is not None:
            config_path = tmp_path / "config.yaml"
            config_path.write_text(config, encoding="utf-8")
        return load_settings(config_path, site_dir=site_dir, output=output or tmp_path / "out")

    return make


@pytest.fixture(scope="session")
def atom_schema():
    if not ATOM_RNG.is_file():
        return None
    return etree.RelaxNG(etree.parse(str(ATOM_RNG)))


@pytest.fixture
def check_feed(atom_schema):
    """Parse a feed as readers do; Atom feeds must also satisfy RFC 4287's schema."""

    def check(path: Path):
        parsed = feedparser.parse(path.read_bytes())
        assert not parsed.bozo, f"{path}: {parsed.get('bozo_exception')}"
        ids = [entry.id for entry in parsed.entries]
        assert len(ids) == len(set(ids)), f"{path}: duplicate ids"
        if path.name == "atom.xml" and atom_schema is not None:
            document = etree.parse(str(path))
            assert atom_schema.validate(document), f"{path}: {atom_schema.error_log.last_error}"
        return parsed

    return check
