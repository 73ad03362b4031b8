"""config.yaml and _config.yml: every problem named with its file and key, one per line."""

from __future__ import annotations

from pathlib import Path

import pytest

from feeds.config import load_settings
from feeds.errors import ConfigError
from tests.test_yamlsafe import LAUGHS


def problems(tmp_path: Path, config: str | None, site_dir: Path) -> list[str]:
    path = None
    if config is not None:
        path = tmp_path / "config.yaml"
        path.write_text(config, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, site_dir=site_dir)
    assert caught.value.exit_code == 2
    return str(caught.value).splitlines()


def test_every_config_problem_is_reported_on_its_own_line(site, tmp_path):
    lines = problems(
        tmp_path,
        "sitedir: x\nfeeds:\n  limit: 0\n  formats: [atom, xml]\n"
        "site:\n  url: finews.withounder.com\n  timezone: Mars/Base\n",
        site.root,
    )
    config = tmp_path / "config.yaml"
    assert lines == [
        f"{config}: site.url: expected an absolute http(s) URL, got 'finews.withounder.com'",
        f"{config}: site.timezone: unknown time zone 'Mars/Base' "
        "(use an IANA name such as Asia/Shanghai)",
        f"{config}: feeds.limit: Input should be greater than or equal to 1 (got 0)",
        f"{config}: feeds.formats.1: Input should be 'atom', 'rss' or 'json' (got 'xml')",
        f"{config}: sitedir: unknown key",
    ]


def test_wrong_types_are_named(site, tmp_path):
    lines = problems(tmp_path, "feeds:\n  tags: maybe\n  categories: [a]\n", site.root)
    config = tmp_path / "config.yaml"
    assert lines == [
        f"{config}: feeds.tags: Input should be a valid boolean, unable to interpret input "
        "(got 'maybe')",
        f"{config}: feeds.categories: Input should be a valid dictionary",
    ]


def test_yaml_syntax_error_names_the_line(site, tmp_path):
    lines = problems(tmp_path, "feeds:\n  limit: [1\n", site.root)
    assert lines == [
        f"{tmp_path / 'config.yaml'}: line 3: not valid YAML: expected ',' or ']', "
        "but got '<stream end>'"
    ]


def test_bad_values_in_jekyll_config_are_named(site, tmp_path):
    site.config("url: not a url\ntimezone: Nowhere/City\ntheme: minima\n")
    jekyll = site.root / "_config.yml"
    assert problems(tmp_path, None, site.root) == [
        f"{jekyll}: url: expected an absolute http(s) URL, got 'not a url'",
        f"{jekyll}: timezone: unknown time zone 'Nowhere/City' (use an IANA name such as Asia/Shanghai)",
    ]


def test_missing_url_is_explained(site, tmp_path):
    site.config("title: x\n")
    assert problems(tmp_path, None, site.root) == [
        f"{site.root / '_config.yml'}: url: missing; feeds need absolute links "
        "(set url in _config.yml or site.url in config.yaml)"
    ]


def test_config_overrides_jekyll_and_fixes_its_bad_values(site, tmp_path):
    site.config("url: not a url\ntitle: 旧\nlang: en\n")
    config = tmp_path / "config.yaml"
    config.write_text("site: {url: 'https://a.example/', title: 新, language: zh-CN}\n", "utf-8")
    settings = load_settings(config, site_dir=site.root)
    assert (settings.site.url, settings.site.title, settings.site.language) == (
        "https://a.example",
        "新",
        "zh-CN",
    )
    assert settings.site.timezone.key == "UTC"


def test_paths_in_config_are_relative_to_its_folder(site, tmp_path):
    config = tmp_path / "conf" / "config.yaml"
    config.parent.mkdir()
    config.write_text(f"site_dir: {site.root}\noutput: out\nstate_dir: st\n", encoding="utf-8")
    settings = load_settings(config)
    assert settings.output == config.parent / "out"
    assert settings.state_dir == config.parent / "st"


def test_folders_a_config_leaves_out_are_in_its_folder_not_the_current_one(tmp_path, monkeypatch):
    from tests.conftest import SiteMaker

    SiteMaker(tmp_path / "conf")
    elsewhere = tmp_path / "cron-runs-here"
    SiteMaker(elsewhere)  # a site here must not be the one built
    monkeypatch.chdir(elsewhere)
    config = tmp_path / "conf" / "config.yaml"
    config.write_text("feeds: {limit: 5}\n", encoding="utf-8")
    settings = load_settings(config)
    assert settings.site_dir == config.parent
    assert settings.output == config.parent / "public/feeds"
    assert settings.state_dir == config.parent / ".feeds"


def test_explicit_config_that_does_not_exist_is_an_error(site, tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.yaml", site_dir=site.root)


def test_no_config_at_all_works_with_defaults(site, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None, site_dir=site.root)
    assert settings.config_path is None
    assert settings.feeds.limit == 20 and settings.feeds.formats == ["atom", "rss", "json"]
    assert settings.site.url == "https://example.org"


def test_subscribers_from_a_csv_file_are_validated_and_merged(site, tmp_path):
    (tmp_path / "subs.csv").write_text(
        "email,name,categories\nreader@example.com,读者,kejiribao emnews\nall@example.com,,all\n",
        encoding="utf-8",
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        "digest:\n  subscribers_file: subs.csv\n"
        "  subscribers: [{email: one@example.com, categories: [Wind]}]\n",
        encoding="utf-8",
    )
    settings = load_settings(config, site_dir=site.root)
    assert [(s.email, s.name, s.categories) for s in settings.subscribers] == [
        ("one@example.com", None, ["Wind"]),
        ("reader@example.com", "读者", ["kejiribao", "emnews"]),
        ("all@example.com", None, "all"),
    ]


def test_a_bad_subscriber_address_is_named_with_its_row(site, tmp_path):
    (tmp_path / "subs.csv").write_text(
        "email,categories\nreader@example.com,all\nnot-an-address,all\n", encoding="utf-8"
    )
    lines = problems(tmp_path, "digest: {subscribers_file: subs.csv}\n", site.root)
    assert lines == [
        f"{tmp_path / 'subs.csv'}: row 3: email: value is not a valid email address: "
        "An email address must have an @-sign. (got 'not-an-address')"
    ]


def test_a_subscriber_listed_twice_is_an_error(site, tmp_path):
    lines = problems(
        tmp_path,
        "digest:\n  subscribers:\n    - {email: a@example.com, categories: all}\n"
        "    - {email: A@example.com, categories: all}\n",
        site.root,
    )
    assert lines == [
        f"{tmp_path / 'config.yaml'}: digest.subscribers: A@example.com is listed twice"
    ]


def test_durations_and_the_from_address_are_checked(site, tmp_path):
    lines = problems(
        tmp_path,
        "digest: {first_window: soon, from: 'nobody', unsubscribe_url: 'http://x.org'}\n",
        site.root,
    )
    config = tmp_path / "config.yaml"
    assert lines == [
        f"{config}: digest.from: expected 'Name <address@domain>', got 'nobody'",
        f"{config}: digest.unsubscribe_url: expected an https:// URL (RFC 8058), got 'http://x.org'",
        f"{config}: digest.first_window: expected a duration such as 30s, 10m, 1h or 2d, got 'soon'",
    ]


def test_subscribers_from_a_yaml_file(site, tmp_path):
    (tmp_path / "subs.yaml").write_text(
        "subscribers:\n  - {email: a@example.com, name: 甲, categories: all}\n"
        "  - {email: b@example.com, categories: 'kejiribao emnews'}\n",
        encoding="utf-8",
    )
    config = tmp_path / "config.yaml"
    config.write_text("digest: {subscribers_file: subs.yaml}\n", encoding="utf-8")
    settings = load_settings(config, site_dir=site.root)
    assert [(s.email, s.categories) for s in settings.subscribers] == [
        ("a@example.com", "all"),
        ("b@example.com", ["kejiribao", "emnews"]),
    ]


def test_window_settings_are_checked_for_the_feeds_and_each_category(site, tmp_path):
    config = tmp_path / "config.yaml"
    text = "feeds:\n  window: soon\n  max_bytes: 5\n  hubs: [hub.example.org]\n"
    assert problems(tmp_path, text, site.root) == [
        f"{config}: feeds.window: expected a duration such as 30s, 10m, 1h or 2d, got 'soon'",
        f"{config}: feeds.max_bytes: Input should be greater than or equal to 10000 (got 5)",
        f"{config}: feeds.hubs.0: expected an absolute http(s) URL, got 'hub.example.org'",
    ]
    text = "feeds:\n  categories: {emnews: {limit: 50, max_entries: 40}}\n"
    assert problems(tmp_path, text, site.root) == [
        f"{config}: feeds: categories.emnews.limit (50) is more than max_entries (40)"
    ]


def test_a_categorys_window_falls_back_to_the_feeds_values(site, tmp_path):
    from datetime import timedelta

    config = tmp_path / "config.yaml"
    config.write_text(
        "feeds:\n  window: 2h\n  categories: {emnews: {window: 6h, max_bytes: 50000}}\n",
        encoding="utf-8",
    )
    settings = load_settings(config, site_dir=site.root)
    assert settings.window("emnews") == (20, timedelta(hours=6), 1000, 50000)
    assert settings.window("other") == settings.window() == (20, timedelta(hours=2), 1000, 1048576)


@pytest.mark.parametrize(
    "page",
    [
        "/c/{0}.html",
        "/c/{name}/{foo}",
        "/c/{name:>99999999999}",
        "/{name}/{name.__class__.__mro__}",
    ],
)
def test_category_page_allows_no_placeholder_but_name(site, tmp_path, page):
    lines = problems(tmp_path, f"feeds:\n  category_page: '{page}'\n", site.root)
    assert lines == [
        f"{tmp_path / 'config.yaml'}: feeds.category_page: expected a path with {{name}} "
        f"as its only placeholder, e.g. /category/{{name}}.html (got '{page}')"
    ]


def test_category_page_puts_the_quoted_name_in_every_name_placeholder(site, make_settings):
    settings = make_settings(site.root, "feeds:\n  category_page: /c/{name}/{name}.html\n")
    assert settings.category_page("科技 {x}") == (
        "https://example.org/c/%E7%A7%91%E6%8A%80%20%7Bx%7D/%E7%A7%91%E6%8A%80%20%7Bx%7D.html"
    )


def test_a_csv_with_a_utf8_bom_is_read_as_excel_writes_it(site, tmp_path):
    (tmp_path / "subs.csv").write_bytes("\ufeffemail,categories\nreader@example.com,all\n".encode())
    config = tmp_path / "config.yaml"
    config.write_text("digest: {subscribers_file: subs.csv}\n", encoding="utf-8")
    settings = load_settings(config, site_dir=site.root)
    assert [s.email for s in settings.subscribers] == ["reader@example.com"]


def test_an_empty_subscriber_list_in_a_file_means_no_subscribers(site, tmp_path):
    (tmp_path / "subs.yaml").write_text("subscribers: null\n", encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text("digest: {subscribers_file: subs.yaml}\n", encoding="utf-8")
    assert load_settings(config, site_dir=site.root).subscribers == []


def test_an_empty_jekyll_lang_means_no_language(site, tmp_path):
    site.config('lang: ""\nurl: https://example.org\n')
    assert load_settings(None, site_dir=site.root).site.language is None


def test_jekyll_text_settings_read_as_jekyll_prints_them(site, tmp_path):
    site.config(
        "title: |\n  两行\n  标题\nlang: zh_CN\ndescription: 2022\n"
        "baseurl: /blog/\nurl: https://example.org\n"
    )
    settings = load_settings(None, site_dir=site.root)
    assert (settings.site.title, settings.site.language, settings.site.description) == (
        "两行 标题",
        "zh-CN",
        "2022",
    )
    assert settings.site.root == "https://example.org/blog/"


def test_a_section_with_every_key_commented_out_is_empty(site, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("site:\n  # url: https://x.org\nfeeds:\n  categories:\n    # a: {title: A}\n")
    settings = load_settings(config, site_dir=site.root)
    assert (settings.site.url, settings.feeds.categories) == ("https://example.org", {})


def test_site_and_subscriber_problems_are_reported_together(site, tmp_path):
    site.config("url: example.org\n")
    (tmp_path / "people.csv").write_text("email,categories\nnobody,all\n", encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text("digest: {subscribers_file: people.csv}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, site_dir=site.root)
    assert str(caught.value).splitlines() == [
        f"{site.root}/_config.yml: url: expected an absolute http(s) URL, got 'example.org'",
        f"{tmp_path}/people.csv: row 2: email: value is not a valid email address: An email address must have an @-sign. (got 'nobody')",
    ]


def test_web_section_defaults(site, make_settings):
    settings = make_settings(site.root, "web:\n  url: https://finews.withounder.com/newsletter/\n")
    web = settings.web
    assert web.url == "https://finews.withounder.com/newsletter"
    assert (web.secret_env, web.host, web.port) == ("FEEDS_SECRET", "127.0.0.1", 8080)
    assert (web.confirm_ttl.total_seconds(), web.confirm_interval.total_seconds()) == (
        72 * 3600,
        24 * 3600,
    )


def test_no_web_section_means_no_web_settings(site, make_settings):
    assert make_settings(site.root, "feeds:\n  limit: 5\n").web is None


def test_web_url_must_be_https_except_on_this_machine(site, tmp_path, make_settings):
    lines = problems(tmp_path, "web:\n  url: http://finews.withounder.com/newsletter\n", site.root)
    assert lines == [
        f"{tmp_path / 'config.yaml'}: web.url: expected an https:// URL (http only for "
        "127.0.0.1 and localhost), got 'http://finews.withounder.com/newsletter'"
    ]
    for host in ("127.0.0.1:8080", "localhost"):
        settings = make_settings(site.root, f"web:\n  url: http://{host}/news\n")
        assert settings.web.url == f"http://{host}/news"


def test_web_url_is_kept_as_browsers_send_its_origin_and_as_mails_need_it(site, make_settings):
    cases = {
        "https://Finews.WithOunder.COM/newsletter": "https://finews.withounder.com/newsletter",
        "HTTPS://finews.withounder.com:443/newsletter/": "https://finews.withounder.com/newsletter",
        "http://LOCALHOST:80/n": "http://localhost/n",
        "https://example.org:8443/n": "https://example.org:8443/n",
        "https://例子.中国/订阅": "https://xn--fsqu00a.xn--fiqs8s/%E8%AE%A2%E9%98%85",
        "https://example.org/a%20b/c": "https://example.org/a%20b/c",
    }
    for written, kept in cases.items():
        assert make_settings(site.root, f"web:\n  url: {written}\n").web.url == kept


def test_web_secrets_come_from_the_environment_current_first(site, make_settings, monkeypatch):
    from feeds.config import web_secrets

    settings = make_settings(
        site.root, "web:\n  url: https://example.org\n  old_secrets_env: FEEDS_OLD\n"
    )
    monkeypatch.delenv("FEEDS_SECRET", raising=False)
    with pytest.raises(ConfigError) as caught:
        web_secrets(settings)
    assert str(caught.value) == "environment variable FEEDS_SECRET is not set"
    assert caught.value.exit_code == 2
    new, old1, old2 = ("new" * 11, "old1" * 8, "old2" * 8)
    monkeypatch.setenv("FEEDS_SECRET", new)
    monkeypatch.setenv("FEEDS_OLD", f"{old1}, {old2},")
    assert web_secrets(settings) == [new, old1, old2]


def test_a_signing_key_shorter_than_32_bytes_is_refused(site, make_settings, monkeypatch):
    from feeds.config import web_secrets

    settings = make_settings(
        site.root, "web:\n  url: https://example.org\n  old_secrets_env: FEEDS_OLD\n"
    )
    monkeypatch.setenv("FEEDS_SECRET", "x")
    with pytest.raises(ConfigError) as caught:
        web_secrets(settings)
    assert str(caught.value) == (
        "environment variable FEEDS_SECRET holds 1 byte; a signing key needs at least 32 "
        "(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
    )
    assert caught.value.exit_code == 2
    monkeypatch.setenv("FEEDS_SECRET", "k" * 32)
    monkeypatch.setenv("FEEDS_OLD", "short")
    with pytest.raises(ConfigError, match="FEEDS_OLD holds 5 bytes"):
        web_secrets(settings)


def test_a_billion_laughs_in_jekyll_config_is_one_config_error(site, tmp_path):
    site.config(f"url: https://example.org\n{LAUGHS}title: *i\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(None, site_dir=site.root)
    assert str(caught.value) == (
        f"{site.root / '_config.yml'}: line 6: not valid YAML: "
        "its aliases (*name) expand to more than 10,000 values"
    )


def test_max_post_bytes_must_be_a_real_size(site, tmp_path):
    assert problems(tmp_path, "max_post_bytes: 999\n", site.root) == [
        f"{tmp_path / 'config.yaml'}: max_post_bytes: "
        "Input should be greater than or equal to 1000 (got 999)"
    ]


def test_web_service_keys_limits_proxies_and_body_cap(site, tmp_path, make_settings):
    settings = make_settings(
        site.root,
        "web:\n  url: https://example.org/n\n  subscribe_limit: 3\n  subscribe_window: 10m\n"
        "  trusted_proxies: [127.0.0.1, 10.0.0.0/8]\n  max_body: 65536\n",
    )
    web = settings.web
    assert (web.subscribe_limit, web.subscribe_window.total_seconds(), web.max_body) == (
        3,
        600,
        65536,
    )
    assert [str(n) for n in web.trusted_proxies] == ["127.0.0.1/32", "10.0.0.0/8"]
    lines = problems(
        tmp_path, "web:\n  url: https://example.org\n  trusted_proxies: [nginx]\n", site.root
    )
    assert lines == [
        f"{tmp_path / 'config.yaml'}: web.trusted_proxies.0: value is not a valid IPv4 or IPv6 network (got 'nginx')"
    ]


def test_a_digest_subject_that_is_no_template_is_a_config_error(site, tmp_path):
    lines = problems(tmp_path, "digest: {subject: '{{ '}\n", site.root)
    assert lines == [
        f"{tmp_path / 'config.yaml'}: digest.subject: line 1: unexpected 'end of template' "
        "(got '{{ ')"
    ]


@pytest.mark.parametrize("suffix", [".csv", ".yaml"])
def test_a_subscribers_file_that_is_a_fifo_is_refused_without_waiting(site, tmp_path, suffix):
    import os

    os.mkfifo(tmp_path / f"subs{suffix}")
    lines = problems(tmp_path, f"digest: {{subscribers_file: subs{suffix}}}\n", site.root)
    assert lines == [f"{tmp_path / f'subs{suffix}'}: a FIFO, not a regular file"]


def test_a_subscribers_file_linked_to_dev_zero_is_refused_before_reading(site, tmp_path):
    (tmp_path / "subs.csv").symlink_to("/dev/zero")
    lines = problems(tmp_path, "digest: {subscribers_file: subs.csv}\n", site.root)
    assert lines == [f"{tmp_path / 'subs.csv'}: a character device, not a regular file"]


def test_a_huge_sparse_subscribers_file_is_refused_by_its_size(site, tmp_path):
    with open(tmp_path / "subs.csv", "wb") as stream:
        stream.truncate(2_000_000_000)  # sparse: no disk space, no time
    lines = problems(tmp_path, "digest: {subscribers_file: subs.csv}\n", site.root)
    assert lines == [
        f"{tmp_path / 'subs.csv'}: 2,000,000,000 bytes, more than the subscribers file's limit "
        "(50,000,000); not read"
    ]


def test_a_subscribers_file_that_is_a_dangling_link_is_not_found(site, tmp_path):
    (tmp_path / "subs.csv").symlink_to(tmp_path / "gone.csv")
    lines = problems(tmp_path, "digest: {subscribers_file: subs.csv}\n", site.root)
    assert lines == [f"{tmp_path / 'subs.csv'}: file not found"]
