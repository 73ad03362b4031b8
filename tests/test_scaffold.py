"""``feeds init``: a commented config.yaml for an existing Jekyll site, never overwriting."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from feeds.config import load_settings
from feeds.scaffold import InitError, init_site
from feeds.templating import default_templates_dir
from tests.conftest import feeds_args, post_text

# Names YAML would misread unquoted: a boolean, a number, null, a comment, a mapping, a quote.
AWKWARD = ["yes", "123", "null", "#hash", "a: b", 'say "hi"', "{x}", "- dash"]


def categorized(site, name: str, categories: list[str]) -> None:
    listed = ", ".join(yaml.safe_dump(c, default_style='"').strip() for c in categories)
    site.post(name, post_text(categories=None, extra=f"categories: [{listed}]"))


def uncomment_categories(text: str) -> str:
    return re.sub(r"^    # (.*)$", r"    \1", text, flags=re.MULTILINE)


def test_cjk_upper_case_and_spaced_categories_become_quoted_display_name_entries(site):
    categorized(site, "2022-05-24-a.md", ["科技日报", "Market News", "TechWeb"])
    categorized(site, "2022-05-24-b.md", ["科技日报", "Market News"])
    categorized(site, "2022-05-24-c.md", ["科技日报"])
    init_site(site.root)
    text = (site.root / "config.yaml").read_text(encoding="utf-8")
    assert (
        '  categories:\n    # "科技日报": {title: "科技日报"}    # 3 posts\n'
        '    # "Market News": {title: "Market News"}    # 2 posts\n'
        '    # "TechWeb": {title: "TechWeb"}    # 1 post\n'
    ) in text
    assert load_settings(site.root / "config.yaml").feeds.categories == {}
    (site.root / "config.yaml").write_text(uncomment_categories(text), encoding="utf-8")
    settings = load_settings(site.root / "config.yaml")
    assert list(settings.feeds.categories) == ["科技日报", "Market News", "TechWeb"]
    assert settings.display_name("Market News") == "Market News"


def test_names_yaml_would_misread_stay_strings_when_uncommented(site):
    categorized(site, "2022-05-24-a.md", AWKWARD)
    init_site(site.root)
    text = uncomment_categories((site.root / "config.yaml").read_text(encoding="utf-8"))
    (site.root / "config.yaml").write_text(text, encoding="utf-8")
    assert sorted(load_settings(site.root / "config.yaml").feeds.categories) == sorted(AWKWARD)


def test_site_values_from_config_yml_are_shown_commented_out_and_missing_ones_explained(site):
    site.config("title: 金融消息\nlang: zh-CN\n")
    site.post("2022-05-24-a.md")
    init_site(site.root)
    text = (site.root / "config.yaml").read_text(encoding="utf-8")
    assert (
        "site:\n"
        '  # url: "https://www.example.com"    # not in _config.yml; required: feeds need absolute links\n'
        '  # title: "金融消息"    # from _config.yml (title)\n'
        '  # language: "zh-CN"    # from _config.yml (lang)\n'
        '  # timezone: "Asia/Shanghai"    # not in _config.yml; dates without an offset are read as UTC until this is set\n'
    ) in text


def test_the_written_config_builds_the_site_as_it_is(site):
    site.post("2022-05-24-a.md")
    init_site(site.root)
    settings = load_settings(site.root / "config.yaml")
    assert settings.site_dir == site.root / "."
    assert settings.output == site.root / "_site" / "feeds"
    assert settings.state_dir == site.root / ".feeds"
    assert settings.site.url == "https://example.org"
    assert settings.templates_dir is None


def test_templates_option_copies_every_default_template_and_points_the_config_at_them(site):
    report = init_site(site.root, templates=True)
    defaults = sorted(p.name for p in default_templates_dir().rglob("*") if p.is_file())
    assert sorted(p.name for p in report.templates) == defaults
    copied = site.root / "_feeds_templates"
    assert (copied / "digest.html").read_bytes() == (
        default_templates_dir() / "digest.html"
    ).read_bytes()
    assert load_settings(site.root / "config.yaml").templates_dir == copied


def test_init_refuses_to_overwrite_and_leaves_the_file_alone(site):
    (site.root / "config.yaml").write_text("mine\n", encoding="utf-8")
    result = subprocess.run(feeds_args("init", site.root), capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: {site.root}/config.yaml: already exists; feeds init overwrites nothing\n"
    )
    assert (site.root / "config.yaml").read_text(encoding="utf-8") == "mine\n"


def test_init_refuses_when_a_template_copy_exists_and_writes_nothing(site):
    (site.root / "_feeds_templates").mkdir()
    (site.root / "_feeds_templates" / "digest.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(InitError, match=r"_feeds_templates/digest\.txt: already exists"):
        init_site(site.root, templates=True)
    assert not (site.root / "config.yaml").exists()


def test_init_outside_a_jekyll_site_says_so(tmp_path):
    (tmp_path / "empty").mkdir()
    result = subprocess.run(feeds_args("init", tmp_path / "empty"), capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: {tmp_path}/empty: not a Jekyll site (no _config.yml or _posts/ here)\n"
    )


def test_init_prints_a_summary_and_what_to_do_next(site):
    site.post("2022-05-24-a.md")
    site.post("2022-05-24-b.md", categories="kejiribao emnews")
    result = subprocess.run(feeds_args("init"), capture_output=True, text=True, cwd=site.root)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        "wrote config.yaml: 2 categories from 2 post files\n"
        "next: edit config.yaml (display names, digest), then:\n"
        "  feeds check\n"
        "  feeds build\n"
    )


def test_init_of_another_folder_names_the_config_in_its_next_steps(site, tmp_path):
    site.post("2022-05-24-a.md")
    result = subprocess.run(
        feeds_args("init", "site", "--templates"), capture_output=True, text=True
    )
    count = sum(1 for path in default_templates_dir().rglob("*") if path.is_file())
    assert result.stdout == (
        "wrote site/config.yaml: 1 category from 1 post file\n"
        f"copied {count} templates into site/_feeds_templates\n"
        "next: edit site/config.yaml (display names, digest), then:\n"
        "  feeds check --config site/config.yaml\n"
        "  feeds build --config site/config.yaml\n"
    )
