"""The YAML loader of front matter and config files: bounded aliases, timestamps that cannot raise."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
import yaml

from feeds import yamlsafe

LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize("fast", [True, False])
def test_a_billion_laughs_is_refused_before_anything_walks_it(fast):
    assert len(LAUGHS) < 400
    with pytest.raises(yamlsafe.TooManyAliases) as caught:
        yamlsafe.load(LAUGHS, fast=fast)
    assert caught.value.problem == "its aliases (*name) expand to more than 10,000 values"


def test_an_alias_inside_its_own_value_is_refused():
    with pytest.raises(yamlsafe.RecursiveAlias):
        yamlsafe.load("title: &t [a, *t]")


def test_nesting_deeper_than_the_parser_can_follow_is_a_yaml_error_not_a_crash():
    with pytest.raises(yamlsafe.TooDeep) as caught:
        yamlsafe.load("x: " + "[" * 5000 + "]" * 5000, fast=False)
    assert caught.value.problem == "lists or mappings nested too deeply (hundreds of levels)"


def test_libyaml_refuses_deep_nesting_itself():
    with pytest.raises(yaml.YAMLError):
        yamlsafe.load("x: " + "[" * 5000 + "]" * 5000, fast=True)


def test_anchors_and_merge_keys_as_people_write_them_still_load():
    text = "base: &b {lang: zh}\nen: {<<: *b, lang: en}\ntags: &t [a, b]\nalso: *t\n"
    assert yamlsafe.load(text) == {
        "base": {"lang": "zh"},
        "en": {"lang": "en"},
        "tags": ["a", "b"],
        "also": ["a", "b"],
    }


@pytest.mark.parametrize(
    "text",
    [
        "2022-13-45",
        "2022-02-30",
        "2022-01-05 10:00:00 +25:00",
        "0001-01-01 00:00:00 +08:00",
        "9999-12-31 23:00:00 -08:00",
    ],
)
def test_timestamps_that_name_no_instant_stay_text(text):
    assert yamlsafe.load(f"date: {text}") == {"date": text}
    with pytest.raises(ValueError):
        yamlsafe.load(f"date: {text}", bad_dates_as_text=False)


def test_real_timestamps_are_still_dates():
    assert yamlsafe.load("a: 2022-05-24\nb: 2022-05-24 20:51:19 +08:00") == {
        "a": date(2022, 5, 24),
        "b": datetime(2022, 5, 24, 20, 51, 19, tzinfo=timezone(timedelta(hours=8))),
    }
