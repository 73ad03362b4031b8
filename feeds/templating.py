"""Where Jinja2 templates come from: the user's folder first, then the ones shipped with feeds.

A user who overrides only digest.html keeps every other template (the
confirmation mail, the web pages) from the package, so an upgrade that adds a
template never breaks a customised site.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

DEFAULT_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def environment(templates_dir: Path | None, **options: Any) -> jinja2.Environment:
    """A Jinja2 environment searching ``templates_dir`` (if any) before the default templates."""
    folders = [str(templates_dir)] if templates_dir else []
    if str(DEFAULT_TEMPLATES) not in folders:
        folders.append(str(DEFAULT_TEMPLATES))
    return jinja2.Environment(loader=jinja2.FileSystemLoader(folders), **options)
