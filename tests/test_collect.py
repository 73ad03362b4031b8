"""Reading _posts/ as Jekyll does, and forgiving where the real data is sloppy."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest

from feeds.site.collect import BadPost, collect, read_body
from tests.conftest import NOW, post_text
from tests.test_yamlsafe import LAUGHS

CST = timezone(timedelta(hours=8))


def read(site, make_settings, **options):
    settings = make_settings(site.root)
    return collect(settings.site, settings.posts_dir, now=options.pop("now", NOW), **options)


def only_post(site, make_settings):
    collected = read(site, make_settings)
    assert len(collected.posts) == 1, collected.problems
    return collected.posts[0]


def test_front_matter_date_with_offset_string_is_kept_in_its_own_offset(site, make_settings):
    site.post("2022-05-24-a.md", date="2022-05-24 20:51:19 +0800")
    assert only_post(site, make_settings).date == datetime(2022, 5, 24, 20, 51, 19, tzinfo=CST)


def test_date_without_offset_is_in_the_site_timezone(site, make_settings):
    site.post("2021-12-08-a.md", date="2021-12-08 10:46:18")
    post = only_post(site, make_settings)
    assert post.date.isoformat() == "2021-12-08T10:46:18+08:00"


def test_date_only_is_midnight_in_the_site_timezone(site, make_settings):
    site.post("2022-05-20-a.md", date="2022-05-24")
    assert only_post(site, make_settings).date.isoformat() == "2022-05-24T00:00:00+08:00"


def test_file_name_date_is_used_when_front_matter_has_none(site, make_settings):
    site.post("2022-05-24-a.md", date=None)
    assert only_post(site, make_settings).date.isoformat() == "2022-05-24T00:00:00+08:00"


def test_unparseable_front_matter_date_falls_back_to_the_file_name_with_a_warning(
    site, make_settings
):
    site.post("2022-05-24-a.md", date=" +0800")
    collected = read(site, make_settings)
    assert collected.posts[0].date.isoformat() == "2022-05-24T00:00:00+08:00"
    assert [p.reason for p in collected.problems] == [
        "date '+0800' is not a date; using 2022-05-24 from the file name"
    ]


def test_blank_line_before_front_matter_still_counts(site, make_settings):
    site.post("2022-05-24-a.md", "\n" + post_text(title="有标题"))
    assert only_post(site, make_settings).title == "有标题"


def test_categories_string_is_split_like_jekyll(site, make_settings):
    site.post("2022-05-24-a.md", categories="21shijijingjibaodao 21caijingAPP")
    post = only_post(site, make_settings)
    assert post.categories == ("21shijijingjibaodao", "21caijingAPP")


def test_categories_list_and_singular_category(site, make_settings):
    site.post("2022-05-24-a.md", categories="[TechWeb, Techweb]")
    site.post("2022-05-24-b.md", categories=None, extra="category: a  b\ntag: 科技日报新闻")
    first, second = read(site, make_settings).posts
    assert first.categories == ("TechWeb", "Techweb")
    assert second.categories == ("a  b",)
    assert second.tags == ("科技日报新闻",)


def test_tags_string_is_split(site, make_settings):
    site.post("2022-05-24-a.md", extra="tags: 东财滚动新闻 站长消息")
    assert only_post(site, make_settings).tags == ("东财滚动新闻", "站长消息")


def test_unpublished_and_future_posts_are_left_out(site, make_settings):
    site.post("2022-05-24-a.md", extra="published: false")
    site.post("2027-01-01-b.md", date="2027-01-01 08:00:00 +0800")
    collected = read(site, make_settings)
    assert (collected.posts, collected.problems, collected.excluded) == ([], [], 2)
    assert len(read(site, make_settings, future=True).posts) == 1


def test_missing_or_empty_title_uses_the_slug_with_a_warning(site, make_settings):
    site.post("2022-05-24-my-first-post.md", title="")
    collected = read(site, make_settings)
    assert collected.posts[0].title == "My First Post"
    assert collected.problems[0].reason == (
        "no title; using 'My First Post' from the file name, as Jekyll does"
    )
    assert not collected.problems[0].skipped


def test_each_kind_of_bad_post_is_skipped_with_one_reason_and_the_rest_survive(site, make_settings):
    site.post("2022-05-24-good.md")
    site.post("2022-05-24-yaml.md", '---\ntitle: "他说"不"\ndate: 2022-05-24\n---\nx\n')
    site.post("2022-05-24-latin1.md", post_text(title="caf\u00e9", body="x").encode("latin-1"))
    site.post("2022-05-24-python.md", "---\ntitle: !!python/object:os.system x\n---\nx\n")
    site.post("2022-05-24-list.md", "---\n- a\n- b\n---\nx\n")
    site.post("2022-13-45-baddate.md", date="not a date")
    site.post("-202205262391921712.md", title="", date=" +0800")
    site.post("2022-05-24-empty.md", "")
    site.post("2022-05-24-nofront.md", "just text\n")
    collected = read(site, make_settings)
    assert [post.slug for post in collected.posts] == ["good"]
    reasons = {p.source.rsplit("/", 1)[-1]: p.reason for p in collected.problems}
    assert reasons == {
        "-202205262391921712.md": "skipped: file name is not YYYY-MM-DD-title.ext, "
        "so Jekyll does not publish it",
        "2022-05-24-empty.md": "skipped: the file is empty",
        "2022-05-24-latin1.md": "skipped: not UTF-8 text (byte 0xe9 at offset 28)",
        "2022-05-24-list.md": "skipped: front matter is a list, not a mapping of keys",
        "2022-05-24-nofront.md": "skipped: no front matter (a post starts with a line '---')",
        "2022-05-24-python.md": "skipped: front matter uses the YAML tag "
        "!!python/object:os.system, which is not allowed",
        "2022-05-24-yaml.md": "skipped: front matter is not valid YAML at line 2: "
        "did not find expected key",
        "2022-13-45-baddate.md": "skipped: no usable date: front matter date 'not a date' "
        "is not a date and the file name's date '2022-13-45' is not a calendar date",
    }
    assert all(p.skipped for p in collected.problems)


def test_problem_names_the_file(site, make_settings):
    path = site.post("2022-05-24-empty.md", "")
    assert str(read(site, make_settings).problems[0]) == f"{path}: skipped: the file is empty"


def test_hidden_and_backup_files_are_not_posts(site, make_settings):
    site.post("2022-05-24-a.md")
    site.post(".2022-05-24-hidden.md")
    site.post("2022-05-24-a.md~")
    site.post("_drafts/2022-05-24-draft.md")
    assert len(read(site, make_settings).posts) == 1


def test_control_characters_and_newlines_in_titles_become_one_line(site, make_settings):
    site.post("2022-05-24-a.md", extra="", title="第一行\\n第二行")
    assert only_post(site, make_settings).title == "第一行 第二行"


def test_html_in_a_title_is_stripped_so_readers_get_text(site, make_settings):
    from feeds.output.build import build
    from tests.conftest import NOW

    site.post("2022-05-24-a.md", title="<em>重磅</em>：A&B 合并")
    settings = make_settings(site.root)
    build(settings, now=NOW)
    atom = (settings.output / "atom.xml").read_text(encoding="utf-8")
    assert "<title>重磅：A&amp;B 合并</title>" in atom


# --- hostile file system entries (issue 9, item 6) -----------------------------------------------


def reasons(collected) -> dict[str, str]:
    return {p.source.rsplit("/", 1)[-1]: p.reason for p in collected.problems}


def test_a_fifo_is_skipped_with_a_warning_instead_of_waited_for(site, make_settings):
    site.post("2022-05-24-good.md")
    os.mkfifo(site.posts / "2022-05-24-fifo.md")
    collected = read(site, make_settings)
    assert [post.slug for post in collected.posts] == ["good"]
    assert reasons(collected) == {"2022-05-24-fifo.md": "skipped: a FIFO, not a regular file"}


def test_a_symlink_to_a_device_is_skipped_unread(site, make_settings):
    (site.posts / "2022-05-24-zero.md").symlink_to("/dev/zero")
    collected = read(site, make_settings)
    assert reasons(collected) == {
        "2022-05-24-zero.md": "skipped: a symbolic link to outside the site, "
        "which Jekyll's safe mode ignores too"
    }


def test_dangling_symlinks_and_symlink_loops_are_skipped_and_the_rest_read(site, make_settings):
    site.post("2022-05-24-good.md")
    site.post("sub/2022-05-24-deep.md")
    (site.posts / "2022-05-24-dangling.md").symlink_to("nowhere.md")
    (site.posts / "2022-05-24-self.md").symlink_to("2022-05-24-self.md")
    (site.posts / "loop").symlink_to(".")
    (site.posts / "sub" / "2022-05-24-up.md").symlink_to("..")
    collected = read(site, make_settings)
    assert sorted(post.slug for post in collected.posts) == ["deep", "good"]
    assert reasons(collected) == {
        "2022-05-24-dangling.md": "skipped: a symbolic link to nothing "
        "(its target is missing or a loop)",
        "2022-05-24-self.md": "skipped: a symbolic link to nothing "
        "(its target is missing or a loop)",
        "loop": "skipped: file name is not YYYY-MM-DD-title.ext, so Jekyll does not publish it",
        "2022-05-24-up.md": "skipped: a symbolic link to a folder, "
        "which Jekyll does not read posts through",
    }


def test_a_symlink_is_followed_only_to_a_file_inside_the_site(site, make_settings, tmp_path):
    (site.root / "drafts").mkdir()
    (site.root / "drafts" / "inside.md").write_text(post_text(title="里面"), encoding="utf-8")
    (tmp_path / "secret.md").write_text(post_text(title="外面"), encoding="utf-8")
    (site.posts / "2022-05-24-inside.md").symlink_to(site.root / "drafts" / "inside.md")
    (site.posts / "2022-05-24-outside.md").symlink_to(tmp_path / "secret.md")
    collected = read(site, make_settings)
    assert [post.title for post in collected.posts] == ["里面"]
    assert list(reasons(collected)) == ["2022-05-24-outside.md"]


def test_a_huge_sparse_file_is_refused_by_its_size_before_reading(site, make_settings):
    with open(site.posts / "2022-05-24-huge.md", "wb") as stream:
        stream.truncate(2 * 1024**3)
    assert reasons(read(site, make_settings)) == {
        "2022-05-24-huge.md": "skipped: 2,147,483,648 bytes, more than max_post_bytes "
        "(10,000,000); not read"
    }


def test_max_post_bytes_is_configurable(site, make_settings):
    site.post("2022-05-24-small.md")
    site.post("2022-05-24-big.md", body="字" * 1000)
    settings = make_settings(site.root, "max_post_bytes: 2000\n")
    collected = collect(settings.site, settings.posts_dir, now=NOW)
    assert [post.slug for post in collected.posts] == ["small"]
    assert reasons(collected)["2022-05-24-big.md"].startswith("skipped: 3,0")


# --- posts that used to crash the whole build (issue 9) ------------------------------------------


def test_invalid_yaml_timestamps_stay_text_in_any_key(site, make_settings):
    site.post("2022-01-05-a.md", "---\ntitle: 2022-02-30\ndate: 2022-13-45\n---\nx\n")
    collected = read(site, make_settings)
    assert collected.posts[0].title == "2022-02-30"
    assert collected.posts[0].date.isoformat() == "2022-01-05T00:00:00+08:00"
    assert reasons(collected) == {
        "2022-01-05-a.md": "date '2022-13-45' is not a date; using 2022-01-05 from the file name"
    }


@pytest.mark.parametrize("value", ["0x_", "0b_", "-0x_", "+0b_"])
def test_a_number_python_cannot_read_skips_only_its_post(site, make_settings, value):
    """PyYAML's int pattern takes these and int() refuses them: once, a traceback for the build."""
    site.post("2022-01-05-a.md", f"---\ntitle: a\nid: {value}\n---\nx\n")
    site.post("2022-01-06-b.md")
    collected = read(site, make_settings)
    assert [post.slug for post in collected.posts] == ["b"]
    assert reasons(collected)["2022-01-05-a.md"].startswith(
        "skipped: front matter has a value YAML cannot read: invalid literal for int()"
    )


def test_an_offset_of_a_day_or_more_is_not_a_date(site, make_settings):
    site.post("2022-01-05-a.md", date="2022-01-05 10:00:00 +25:00")
    collected = read(site, make_settings)
    assert collected.posts[0].date.isoformat() == "2022-01-05T00:00:00+08:00"
    assert len(collected.problems) == 1


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("0001-01-01 00:00:00 +08:00", "'0001-01-01 00:00:00 +08:00'"),
        ("9999-12-31 23:00:00 -08:00", "'9999-12-31 23:00:00 -08:00'"),
        ("0001-01-01", "'0001-01-01' (outside the years 1000 to 9998)"),
        ("9999-12-31 23:00:00", "'9999-12-31T23:00:00' (outside the years 1000 to 9998)"),
    ],
)
def test_dates_at_the_ends_of_the_calendar_fall_back_to_the_file_name(
    site, make_settings, written, shown
):
    site.post("2022-01-05-a.md", date=written)
    collected = read(site, make_settings)
    assert collected.posts[0].date.isoformat() == "2022-01-05T00:00:00+08:00"
    assert [p.reason for p in collected.problems] == [
        f"date {shown} is not a date; using 2022-01-05 from the file name"
    ]


def test_a_file_name_date_in_year_1_is_no_usable_date(site, make_settings):
    site.post("0001-01-01-a.md", date=None)
    assert reasons(read(site, make_settings)) == {
        "0001-01-01-a.md": "skipped: no usable date: '0001-01-01' in the file name "
        "is not a calendar date"
    }


def test_an_empty_slug_without_a_title_is_skipped(site, make_settings):
    site.post("2022-01-05-.md", title=None)
    site.post("2022-01-06-.md", title="有标题")
    collected = read(site, make_settings)
    assert [post.title for post in collected.posts] == ["有标题"]
    assert reasons(collected) == {
        "2022-01-05-.md": "skipped: no title, and no slug in the file name to make one from"
    }


def test_a_title_of_control_characters_falls_back_to_the_slug(site, make_settings):
    site.post("2022-05-24-my-post.md", title="\\x01\\x02\\x7f")
    site.post("2022-05-24-other.md", title="A\\x1bB")
    collected = read(site, make_settings)
    assert [post.title for post in collected.posts] == ["My Post", "AB"]
    assert reasons(collected) == {
        "2022-05-24-my-post.md": "no title; using 'My Post' from the file name, as Jekyll does",
        "2022-05-24-other.md": "title: control characters removed, giving 'AB'",
    }


def test_a_billion_laughs_front_matter_is_refused(site, make_settings):
    site.post("2022-05-24-lol.md", f"---\n{LAUGHS}title: *i\n---\nx\n")
    assert reasons(read(site, make_settings)) == {
        "2022-05-24-lol.md": "skipped: front matter refused: "
        "its aliases (*name) expand to more than 10,000 values"
    }


def test_a_newline_in_a_file_name_cannot_split_a_warning(site, make_settings):
    site.post("2022-05-24-two\nlines.md", "")
    [problem] = read(site, make_settings).problems
    assert str(problem).endswith("/2022-05-24-two\\nlines.md: skipped: the file is empty")


# --- the body belongs to the front matter it was read with ---------------------------------------


def test_a_body_is_refused_when_its_front_matter_changed_since_it_was_read(site, make_settings):
    path = site.post("2022-05-24-a.md", title="旧标题", body="旧正文")
    post = only_post(site, make_settings)
    assert read_body(post) == "旧正文\n"
    path.write_text(post_text(title="新标题", body="新正文"), encoding="utf-8")
    with pytest.raises(BadPost, match="front matter changed since it was read"):
        read_body(post)


def test_sets_maps_and_nested_lists_never_become_text_so_every_process_reads_the_same(
    site, make_settings
):
    site.post(
        "2022-05-24-odd.md",
        "---\ntitle: !!set {alpha, beta}\ncategories: [c1, !!set {c2, c3}, [c4], {c5: 1}]\n"
        "tags: !!set {t1, t2}\nslug: [x, {y: 1}]\ndate: {when: 1}\n---\nbody\n",
    )
    collected = read(site, make_settings)
    [post] = collected.posts
    assert (post.title, post.slug, post.categories, post.tags) == ("Odd", "odd", ("c1",), ())
    assert [p.reason for p in collected.problems] == [
        "title: a set where text belongs; ignored",
        "slug: a list where text belongs; ignored",
        "date: a mapping where text belongs; ignored",
        "categories: a set inside the list ignored (names are text)",
        "tags: a set where text or a list of text belongs; ignored",
        "no title; using 'Odd' from the file name, as Jekyll does",
    ]


# --- values far too long for a feed: one post must not push the others out ------------------------


def test_a_title_of_megabytes_is_cut_to_500_characters_with_a_warning(site, make_settings):
    site.post("2022-05-24-a.md", title="标" * 300_000)
    collected = read(site, make_settings)
    assert collected.posts[0].title == "标" * 499 + "…"
    assert [p.reason for p in collected.problems] == ["title: 300,000 characters, cut to 500"]


def test_an_author_name_of_megabytes_is_cut_to_200_characters(site, make_settings):
    site.post("2022-05-24-a.md", extra="author: " + "A" * 10_000)
    collected = read(site, make_settings)
    assert collected.posts[0].author == "A" * 199 + "…"
    assert [p.reason for p in collected.problems] == ["author: 10,000 characters, cut to 200"]


def test_a_post_with_a_category_name_of_megabytes_is_skipped(site, make_settings):
    site.post("2022-05-24-a.md", categories="c" * 1_000_000)
    site.post("2022-05-24-b.md")
    collected = read(site, make_settings)
    assert [p.categories for p in collected.posts] == [("kejiribao",)]
    assert [p.reason for p in collected.problems] == [
        "skipped: a category name of 1,000,000 characters (at most 200)"
    ]


def test_a_tag_name_of_megabytes_is_left_out(site, make_settings):
    site.post("2022-05-24-a.md", extra=f"tags: [财经, {'t' * 5000}]")
    collected = read(site, make_settings)
    assert collected.posts[0].tags == ("财经",)
    assert [p.reason for p in collected.problems] == ["tags: names over 200 characters left out"]
