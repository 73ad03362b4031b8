"""Regenerate tests/golden/ from real Jekyll. Never edit the golden files by hand.

Usage: python -m tests.update_golden   (needs the Debian package `jekyll`, 4.3)

For every permalink setting the tests check, the fixture site in
tests/fixtures/permalinks is copied to a temporary folder, given that
setting, and built by Jekyll with a page that lists each post's source path
and URL. The lists become tests/golden/permalinks.json.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).parent
FIXTURE = HERE / "fixtures" / "permalinks"
GOLDEN = HERE / "golden" / "permalinks.json"

PERMALINKS = [
    "date",
    "pretty",
    "ordinal",
    "weekdate",
    "none",
    "/:categories/:year/:month/:day/:hour:minute:second-:slug:output_ext",
    "/:year/:i_month/:i_day/:short_month-:long_month-:short_year/"
    ":w_year-W:week-:w_day-:short_day-:long_day/:slugified_categories/:name/:title/",
    "/news/:y_day/:month_:day/:title:output_ext",
    "/:collection/:path/",
]

LISTING = """---
layout: null
permalink: /urls.txt
---
{% for post in site.posts %}{{ post.path }}\t{{ post.url }}
{% endfor %}"""


def jekyll_urls(permalink: str) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        shutil.copytree(FIXTURE, site)
        config = yaml.safe_load((site / "_config.yml").read_text(encoding="utf-8"))
        config["permalink"] = permalink
        (site / "_config.yml").write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
        (site / "urls.txt").write_text(LISTING, encoding="utf-8")
        subprocess.run(
            ["jekyll", "build", "--safe", "--quiet", "-s", str(site), "-d", str(site / "_site")],
            check=True,
        )
        lines = (site / "_site" / "urls.txt").read_text(encoding="utf-8").splitlines()
    pairs = (line.split("\t") for line in lines if line.strip())
    return dict(sorted(pairs))


def main() -> int:
    if not shutil.which("jekyll"):
        print("jekyll is not installed (apt-get install jekyll)", file=sys.stderr)
        return 1
    version = subprocess.run(["jekyll", "--version"], capture_output=True, text=True).stdout
    golden = {"jekyll": version.strip(), "urls": {p: jekyll_urls(p) for p in PERMALINKS}}
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(golden, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
