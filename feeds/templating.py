"""Where templates come from: the user's folder first, then the ones installed with feeds.

A user overrides one file (say ``digest.html``) by putting it in
``digest.templates_dir``; every file missing there comes from the defaults.
The repository keeps one copy of the defaults in its top-level ``templates/``;
the wheel carries them as ``feeds/templates/`` (see setup.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

_PACKAGE = Path(__file__).resolve().parent


def default_templates_dir() -> Path:
    """``feeds/templates/`` inside an installed wheel, else the checkout's ``templates/``."""
    installed = _PACKAGE / "templates"
    return installed if installed.is_dir() else _PACKAGE.parent / "templates"


def template_folders(templates_dir: Path | None) -> list[Path]:
    """The folders searched, in order: the user's (when configured), then the defaults."""
    default = default_templates_dir()
    if templates_dir is None or templates_dir.resolve() == default.resolve():
        return [templates_dir or default]
    return [templates_dir, default]


def environment(templates_dir: Path | None, **options: Any) -> jinja2.Environment:
    """A Jinja2 environment that looks in the user's folder, then in the defaults."""
    loader = jinja2.FileSystemLoader([str(folder) for folder in template_folders(templates_dir)])
    return jinja2.Environment(loader=loader, **options)
