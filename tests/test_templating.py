"""Templates: the user's folder first, then the defaults installed with feeds."""

from __future__ import annotations

from pathlib import Path

from feeds.templating import default_templates_dir, environment, template_folders

ROOT = Path(__file__).resolve().parent.parent


def test_a_checkout_uses_its_top_level_templates_folder():
    assert default_templates_dir() == ROOT / "templates"


def test_a_file_in_the_users_folder_overrides_only_that_template(tmp_path):
    (tmp_path / "digest.html").write_text("mine {{ x }}", encoding="utf-8")
    env = environment(tmp_path)
    assert env.get_template("digest.html").render(x=1) == "mine 1"
    assert env.get_template("digest.txt").filename == str(ROOT / "templates" / "digest.txt")


def test_without_a_configured_folder_only_the_defaults_are_searched():
    assert template_folders(None) == [default_templates_dir()]
