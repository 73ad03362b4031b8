"""The wheel works from any folder: built, installed into a fresh virtual environment, and run
from a temporary folder that holds nothing but a small Jekyll site.

To stay fast the new environment gets the wheel alone (``--no-deps``) and borrows the
libraries of the environment running the tests through a ``.pth`` line; ``feeds`` itself
must come from the wheel (checked), so a template left out of the wheel fails here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feeds import __version__
from tests.conftest import ROOT, SiteMaker, post_text

pytestmark = pytest.mark.slow

NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", "public", ".feeds", "dist"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the checkout (the build writes into its source folder)."""
    source = tmp_path_factory.mktemp("source") / "feeds"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("feeds-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment holding the wheel; its bin/ folder."""
    env = tmp_path_factory.mktemp("venv") / "env"
    venv.create(env)
    python = env / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel],
        check=True,
        capture_output=True,
    )
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    libraries = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib) / "borrowed-libraries.pth").write_text("\n".join(sorted(libraries)) + "\n")
    return env / "bin"


def run_installed(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(bin_dir / "feeds"), *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_the_wheel_holds_every_file_of_the_templates_folder(wheel):
    expected = {
        "feeds/templates/" + path.relative_to(ROOT / "templates").as_posix()
        for path in (ROOT / "templates").rglob("*")
        if path.is_file()
    }
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name for name in archive.namelist() if name.startswith("feeds/templates/")}
    assert expected and shipped == expected


def test_init_check_build_and_preview_work_from_a_folder_with_only_a_site(installed, tmp_path):
    site = SiteMaker(tmp_path / "blog")
    recent = datetime.now(UTC) - timedelta(hours=2)
    for number, category in enumerate(["Market News", "科技日报", "Market News"]):
        site.post(
            f"{recent:%Y-%m-%d}-p{number}.md",
            post_text(
                title=f"标题 {number}",
                date=f"{recent:%Y-%m-%d %H:%M:%S} +0000",
                categories=None,
                extra=f'categories: ["{category}"]',
            ),
        )
    blog = site.root

    version = run_installed(installed, blog, "--version")
    assert version.stdout == f"feeds, version {__version__}\n"
    located = subprocess.run(
        [str(installed / "python"), "-c", "import feeds.templating as t; print(t.__file__)"],
        cwd=blog,
        capture_output=True,
        text=True,
    ).stdout
    assert located.startswith(str(installed.parent)), located

    init = run_installed(installed, blog, "init")
    assert (init.returncode, init.stderr) == (0, "")
    assert init.stdout.startswith("wrote config.yaml: 2 categories from 3 post files\n")

    check = run_installed(installed, blog, "check")
    assert (check.returncode, check.stderr) == (0, ""), check.stdout
    assert "posts:       3 post files, 3 published\n" in check.stdout
    assert check.stdout.endswith("no problems found\n")

    build = run_installed(installed, blog, "build")
    assert build.returncode == 0, build.stderr
    assert build.stdout.startswith("3 posts read, 0 skipped, 13 files written, 0 unchanged in ")
    assert (blog / "_site" / "feeds" / "atom.xml").is_file()

    preview = run_installed(installed, blog, "digest", "--preview", "x.html")
    assert (preview.returncode, preview.stderr) == (0, "")
    assert preview.stdout == "wrote x.html (3 new posts)\n"
    html = (blog / "x.html").read_text(encoding="utf-8")
    assert "标题 1" in html and "Market News" in html
