"""The pages: Jinja2 templates from the user's folder first, then the package's own.

Every page extends ``web_base.html``. The category list of the subscribe form
is the bulk of the page (about 2,000 entries on the real site), so the
unfiltered, unticked list is rendered once per category set and reused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass

import jinja2
from markupsafe import Markup
from starlette.responses import HTMLResponse, Response

from feeds.config import Settings
from feeds.errors import TemplateError
from feeds.templating import environment, template_folders

STATIC_FILES = {"web.css": "text/css; charset=utf-8", "web_filter.js": "text/javascript"}


@dataclass(frozen=True)
class Category:
    name: str  # the category's own name, as posts carry it: the value a form sends
    label: str  # the display name readers see

    def matches(self, query: str) -> bool:
        query = query.casefold()
        return query in self.label.casefold() or query in self.name.casefold()


@dataclass(frozen=True)
class FormValues:
    """What a subscribe or preferences form shows: pre-filled, or as the reader sent it."""

    email: str = ""
    name: str = ""
    everything: bool = True
    categories: frozenset[str] = frozenset()
    query: str = ""


class Pages:
    def __init__(self, settings: Settings, base: str):
        self.settings = settings
        self.base = base
        self.env = environment(
            settings.templates_dir,
            autoescape=jinja2.select_autoescape(["html"]),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
        )
        self.folders = ", ".join(str(f) for f in template_folders(settings.templates_dir))
        self.templates = {
            name: self._load(name)
            for name in (
                "web_subscribe.html",
                "web_preferences.html",
                "web_message.html",
                "web_button.html",
                "web_category_items.html",
            )
        }
        self.static = {name: self._static(name, kind) for name, kind in STATIC_FILES.items()}
        self._unticked: tuple[tuple[Category, ...], Markup] | None = None

    def _load(self, name: str) -> jinja2.Template:
        try:
            return self.env.get_template(name)
        except jinja2.TemplateNotFound:
            raise TemplateError(f"template {name} not found", where=self.folders) from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                f"line {exc.lineno}: {exc.message}", where=exc.filename or name
            ) from None

    def _static(self, name: str, kind: str) -> Response:
        try:
            text, _, _ = self.env.loader.get_source(self.env, name)  # type: ignore[union-attr]
        except jinja2.TemplateNotFound:
            raise TemplateError(f"template {name} not found", where=self.folders) from None
        body = text.encode("utf-8")
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        headers = {"cache-control": "public, max-age=3600", "etag": etag}
        return Response(body, media_type=kind, headers=headers)

    def render(self, name: str, status: int = 200, **context) -> HTMLResponse:
        context = {"site": self.settings.site, "base": self.base, **context}
        return HTMLResponse(self.templates[name].render(context), status_code=status)

    def message(
        self, title: str, *lines: str, status: int = 200, link: dict | None = None
    ) -> HTMLResponse:
        return self.render("web_message.html", status, title=title, lines=lines, link=link)

    def category_items(
        self, categories: tuple[Category, ...], checked: Collection[str], query: str
    ) -> tuple[Markup, int]:
        """The list items of the form, narrowed by ``query``; ticked ones always stay."""
        if not checked and not query:
            if self._unticked is None or self._unticked[0] is not categories:
                self._unticked = (categories, self._items(categories, ()))
            return self._unticked[1], len(categories)
        shown = tuple(c for c in categories if c.name in checked or c.matches(query))
        return self._items(shown, checked), len(shown)

    def _items(self, categories: tuple[Category, ...], checked: Collection[str]) -> Markup:
        template = self.templates["web_category_items.html"]
        return Markup(template.render(categories=categories, checked=checked))

    def form(self, name: str, form: FormValues, categories: tuple[Category, ...], **context):
        items, shown = self.category_items(categories, form.categories, form.query)
        status = context.pop("status", 200)
        return self.render(
            name,
            status,
            form=form,
            category_items=items,
            shown=shown,
            total=len(categories),
            **context,
        )
