"""Digests assembled from once-inlined parts are the digests premailer gives inlined whole."""

from __future__ import annotations

import random
import shutil

import pytest

from feeds.newsletter import parts as parts_module
from feeds.newsletter.digest import (
    Composer,
    group_by_category,
    once_each,
    unique_stories,
    variant_key,
)
from feeds.newsletter.dispatch import candidate_posts, to_items
from feeds.newsletter.parts import Assembler, Layout, whole
from feeds.newsletter.state import State
from tests.conftest import NOW, ROOT
from tests.test_dispatch import digest_config, news_site

CATEGORIES = [f"cat{n}" for n in range(12)] + ["kejiribao", "emnews"]
DAY = "2026-11-28"


def generated_site(site, posts: int = 80):
    """Posts with titles and bodies full of what escaping gets wrong, in one to three categories."""
    rng = random.Random(5)
    for n in range(posts):
        chosen = sorted(set(rng.choices(CATEGORIES, k=rng.randint(1, 3))))
        site.post(
            f"2026-11-28-g{n}.md",
            title=f"要闻{n} & <b>粗</b> 'q' > a\u00a0b",
            date=f"2026-11-28 {n % 12:02d}:{n % 60:02d}:00 +0800",
            categories="[" + ", ".join(chosen) + "]",
            body=f"第{n}条 &amp; <i>x</i> " + "长文。" * rng.randint(1, 400),
        )
    return site


def plan_inputs(settings):
    state = State(settings.state_dir)
    try:
        posts, _ = candidate_posts(settings, state, NOW, None)
    finally:
        state.close()
    return group_by_category(unique_stories(to_items(settings, posts)))


def readers_choices(by_category, count: int = 25) -> dict[str, list[str]]:
    rng = random.Random(9)
    names = sorted(by_category)
    choices = [names] + [
        sorted(rng.sample(names, rng.randint(1, min(6, len(names))))) for _ in range(count)
    ]
    return {variant_key(list(once_each(chosen, by_category))): chosen for chosen in choices}


def both_ways(settings, wanted, by_category):
    composer = Composer(settings, settings.templates_dir)
    assembler = Assembler(composer)
    assembled = assembler.render_all(wanted, by_category, DAY)
    reference = Assembler(composer, whole=True).render_all(wanted, by_category, DAY)
    return assembler, {name: whole(v, assembler.parts) for name, v in assembled.items()}, reference


def test_the_shipped_templates_give_the_same_html_and_text_from_parts(site, make_settings):
    settings = make_settings(news_site(site).root, digest_config())
    by_category = plan_inputs(settings)
    wanted = {variant_key(c): c for c in (["kejiribao"], ["emnews"], ["emnews", "kejiribao"])}
    assembler, assembled, reference = both_ways(settings, wanted, by_category)
    assert assembler.reason is None
    assert assembled == reference
    html = assembled[variant_key(["kejiribao"])].html
    assert 'style="' in html and "%%feeds-recipient%%" in html and "%%feeds-count" not in html


def test_generated_digests_with_caps_shrinking_and_shared_posts_are_the_same_from_parts(
    site, make_settings
):
    extra = "  max_per_category: 4\n  max_items: 14\n  max_bytes: 20000\n"
    settings = make_settings(generated_site(site).root, digest_config(extra=extra))
    by_category = plan_inputs(settings)
    wanted = readers_choices(by_category)
    assembler, assembled, reference = both_ways(settings, wanted, by_category)
    assert assembler.reason is None
    assert assembled == reference
    assert any(v.items > 14 for v in reference.values())  # capped digests were among them


def test_premailer_runs_per_frame_and_batch_of_sections_not_per_digest(
    site, make_settings, monkeypatch
):
    settings = make_settings(generated_site(site).root, digest_config())
    by_category = plan_inputs(settings)
    wanted = readers_choices(by_category, count=40)
    runs = []
    original = parts_module.inline_css
    monkeypatch.setattr(parts_module, "inline_css", lambda html: runs.append(1) or original(html))
    assembler = Assembler(Composer(settings, settings.templates_dir))
    assembler.render_all(wanted, by_category, DAY)
    assert len(wanted) > 30 and len(runs) < len(wanted) / 2


def user_template(tmp_path, old: str, new: str):
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in ("digest.html", "digest.txt"):
        shutil.copy(ROOT / "templates" / name, folder / name)
    path = folder / "digest.html"
    text = path.read_text(encoding="utf-8")
    assert old in text
    text = text.replace(old, new)
    if not new:  # no block: its end goes too
        text = text.replace("    {% endblock %}\n", "")
    path.write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (
            "  .item { margin: 0 0 14px; }",
            "  .item { margin: 0 0 14px; }\n  .section + .section { border-top: 1px solid #eee; }",
            "digest.html: the style '.section + .section' depends on a section's position",
        ),
        (
            '<div class="section">',
            '<div class="section" id="s{{ loop.index }}">',
            "digest.html reads the position of a section ('loop') inside its section block",
        ),
        (
            "{{ count }} 篇新文章",
            "{{ count }} 篇新文章{% if count > 1 %}（多）{% endif %}",
            "digest.html uses 'count' other than printing it",
        ),
        (
            "<title>{{ subject }}</title>",
            '<title>{{ subject }}</title><meta name="description" content="{{ preheader }}">',
            "digest.html puts a digest's own value in an attribute",
        ),
        (
            "    {% block section scoped %}\n",
            "",
            "digest.html has no '{% block section scoped %}' inside its loop over sections",
        ),
    ],
)
def test_a_template_parts_cannot_reproduce_is_inlined_whole_and_says_why(
    site, make_settings, tmp_path, old, new, reason
):
    folder = user_template(tmp_path, old, new)
    config = digest_config().replace(
        f"templates_dir: {ROOT / 'templates'}", f"templates_dir: {folder}"
    )
    settings = make_settings(generated_site(site, posts=20).root, config)
    by_category = plan_inputs(settings)
    wanted = readers_choices(by_category, count=5)
    assembler, assembled, reference = both_ways(settings, wanted, by_category)
    assert assembler.reason == reason
    assert assembled == reference and assembler.parts == {}


def test_a_layout_survives_being_stored_as_text():
    layout = Layout("H1", "T1", (("h1", "t1"), ("h2", "t2")), (("subject", "今日 & <要闻>"),))
    assert Layout.loads(layout.dumps()) == layout
    parts = {
        "H1": "<p>%%feeds-subject%%</p><!--feeds-slot--><!--feeds-slot-->",
        "T1": "%%feeds-subject%%%%feeds-slot%%%%feeds-slot%%",
    }
    parts |= {"h1": "<i>1</i>", "h2": "<i>2</i>", "t1": "", "t2": ""}
    assert layout.assemble(parts) == (
        "<p>今日 &amp; &lt;要闻&gt;</p><i>1</i><i>2</i>",
        "今日 & <要闻>",
    )
