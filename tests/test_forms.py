"""Reading the subscribe and preferences forms: what is kept, dropped or refused."""

from __future__ import annotations

import pytest
from starlette.datastructures import FormData

from feeds.web.forms import (
    FormProblem,
    check_choice,
    chosen_categories,
    has_control_characters,
    read_values,
)

KNOWN = {"kejiribao", "emnews", "宏观"}


def form(*pairs: tuple[str, str]) -> FormData:
    return FormData(list(pairs))


def test_ticked_categories_are_kept_and_unknown_ones_dropped():
    values = read_values(
        form(("scope", "chosen"), ("categories", "宏观"), ("categories", "<script>")), KNOWN
    )
    assert chosen_categories(values) == ("宏观",)


def test_a_subscribers_own_categories_stay_choosable_after_they_left_the_site():
    values = read_values(form(("scope", "chosen"), ("categories", "old")), KNOWN, allowed={"old"})
    assert chosen_categories(values) == ("old",)


def test_all_categories_is_none_whatever_is_ticked():
    values = read_values(form(("scope", "all"), ("categories", "emnews")), KNOWN)
    assert chosen_categories(values) is None


def test_fields_are_trimmed():
    values = read_values(form(("email", "  a@example.org "), ("name", " 读者 ")), KNOWN)
    assert (values.email, values.name) == ("a@example.org", "读者")


@pytest.mark.parametrize("bad", ["a\r\nb", "a\nb", "a\tb", "a\x00b", "a\x7fb", "a\u2028b"])
def test_control_characters_anywhere_are_found(bad):
    assert has_control_characters(form(("email", "a@example.org"), ("categories", bad)))


def test_plain_text_and_markup_are_not_control_characters():
    assert not has_control_characters(form(("name", "<script>读者 &amp;</script>")))


def test_a_choice_needs_a_category_and_a_short_name():
    with pytest.raises(FormProblem, match="请至少勾选一个分类"):
        check_choice(read_values(form(("scope", "chosen")), KNOWN))
    with pytest.raises(FormProblem, match="称呼太长"):
        check_choice(read_values(form(("name", "x" * 101)), KNOWN))
    check_choice(read_values(form(("name", "x" * 100)), KNOWN))
