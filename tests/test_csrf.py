"""The form token is tied to a cookie, and the browser's word about the request's site counts."""

from __future__ import annotations

from feeds.web.csrf import Csrf

SAME = {"origin": "https://example.org", "sec-fetch-site": "same-origin"}


def make(secrets=("s3cret",)) -> Csrf:
    return Csrf(list(secrets), origin="https://example.org", https=True, path="/newsletter")


def test_the_token_made_for_a_cookie_is_accepted_with_that_cookie():
    csrf = make()
    cookie = csrf.new_cookie()
    assert csrf.valid(SAME, cookie, csrf.form_token(cookie))


def test_a_token_for_another_cookie_or_without_one_is_refused():
    csrf = make()
    token = csrf.form_token(csrf.new_cookie())
    assert not csrf.valid(SAME, csrf.new_cookie(), token)
    assert not csrf.valid(SAME, None, token)
    assert not csrf.valid(SAME, "cookie", None)


def test_a_request_from_another_site_is_refused_even_with_a_good_token():
    csrf = make()
    cookie = csrf.new_cookie()
    token = csrf.form_token(cookie)
    assert not csrf.valid({"origin": "https://evil.example"}, cookie, token)
    assert not csrf.valid({"origin": "null", "sec-fetch-site": "cross-site"}, cookie, token)
    assert not csrf.valid({"sec-fetch-site": "cross-site"}, cookie, token)
    assert not csrf.valid({"sec-fetch-site": "same-site"}, cookie, token)


def test_old_browsers_without_origin_or_fetch_metadata_still_post_with_the_token():
    csrf = make()
    cookie = csrf.new_cookie()
    assert csrf.valid({}, cookie, csrf.form_token(cookie))


def test_origin_null_is_what_a_no_referrer_page_sends_for_its_own_form():
    csrf = make()
    cookie = csrf.new_cookie()
    own_form = {"origin": "null", "sec-fetch-site": "same-origin"}
    assert csrf.valid(own_form, cookie, csrf.form_token(cookie))
    assert not csrf.valid(own_form, cookie, "forged")


def test_tokens_made_with_an_old_key_stay_valid_while_it_is_listed():
    cookie = "c00kie"
    old_token = make(["old"]).form_token(cookie)
    assert make(["new", "old"]).valid(SAME, cookie, old_token)
    assert not make(["new"]).valid(SAME, cookie, old_token)


def test_the_cookie_is_secure_only_under_https_httponly_and_samesite_lax():
    https = make().cookie_header("abc")
    plain = Csrf(["k"], origin="http://127.0.0.1:8080", https=False, path="").cookie_header("abc")
    assert https == "feeds_csrf=abc; Path=/newsletter; HttpOnly; SameSite=Lax; Secure"
    assert plain == "feeds_csrf=abc; Path=/; HttpOnly; SameSite=Lax"
