"""Where Jinja2 templates come from: the user's folder first, then the package's own.

A user who wants a different digest edits one file; every template they did
not copy keeps coming from the package, so an upgrade that adds a template
(a web page, a confirmation mail) never breaks their folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jinja2

PACKAGE_DIR = Path(__file__).resolve().parent


def default_templates_dir() -> Path:
    """The templates shipped with feeds: in an installed wheel, else the checkout's templates."""
    installed = PACKAGE_DIR / "templates"
    return installed if installed.is_dir() else PACKAGE_DIR.parent / "templates"


def template_folders(user_dir: Path | None) -> list[Path]:
    """The folders searched for a template, in order."""
    folders = [user_dir] if user_dir is not None else []
    default = default_templates_dir()
    if user_dir is None or user_dir.resolve() != default:
        folders.append(default)
    return folders


def environment(user_dir: Path | None, **options) -> jinja2.Environment:
    """A Jinja2 environment that finds templates in `template_folders(user_dir)`."""
    import jinja2  # here, as a build with nothing new needs no template

    loader = jinja2.FileSystemLoader([str(folder) for folder in template_folders(user_dir)])
    return jinja2.Environment(loader=loader, **options)
