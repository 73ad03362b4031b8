"""Reading what a reader typed into the subscribe and preferences forms.

Control characters (CR and LF above all: they would become header lines in a
mail) are refused outright, never cleaned up, so nothing stored differs from
what the reader saw. Unknown categories are dropped: a form that outlived a
renamed category still subscribes to the rest.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from starlette.datastructures import FormData

from feeds.web.pages import FormValues

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MAX_NAME = 100
MAX_FIELDS = 5_000  # every category ticked, and then some


class FormProblem(Exception):
    """The form cannot be used as sent; the message is shown above it."""


def has_control_characters(form: FormData) -> bool:
    return any(isinstance(value, str) and CONTROL.search(value) for _, value in form.multi_items())


def read_values(
    form: FormData, known: Collection[str], *, allowed: Collection[str] = ()
) -> FormValues:
    """The form's fields as typed, categories limited to ``known`` (and ``allowed``)."""
    chosen = frozenset(
        value
        for value in form.getlist("categories")
        if isinstance(value, str) and (value in known or value in allowed)
    )
    return FormValues(
        email=_text(form, "email"),
        name=_text(form, "name"),
        everything=_text(form, "scope") != "chosen",
        categories=chosen,
        query=_text(form, "q"),
    )


def check_choice(values: FormValues) -> None:
    """A choice the store can keep; FormProblem says what to fix."""
    if len(values.name) > MAX_NAME:
        raise FormProblem(f"称呼太长：最多 {MAX_NAME} 个字符。")
    if not values.everything and not values.categories:
        raise FormProblem("请至少勾选一个分类，或选择“全部分类”。")


def chosen_categories(values: FormValues) -> tuple[str, ...] | None:
    """What the store keeps: None for every category, present and future."""
    return None if values.everything else tuple(sorted(values.categories))


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""
