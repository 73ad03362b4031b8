"""`feeds serve` as readers, mail scanners and mail providers meet it: a real server over HTTP."""

from __future__ import annotations

import email
import re
import signal
import socket
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from email.policy import compat32
from urllib.parse import urlencode

import httpx
import pytest

from feeds.newsletter.subscribers import Origin, SubscriberStore
from feeds.newsletter.tokens import Tokens
from tests.conftest import WEB_SECRET, WebServer, feeds_args, wait_for

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def browser(server) -> httpx.Client:
    """A client that keeps cookies and says, as browsers do, that its posts are same-origin."""
    return httpx.Client(
        base_url=server.url + "/",
        headers={"origin": server.origin, "sec-fetch-site": "same-origin"},
        timeout=30,
    )


def form_token(client: httpx.Client, path: str = "subscribe") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return CSRF.search(page.text).group(1)


def subscribe(client, address, categories=("kejiribao",), **fields) -> httpx.Response:
    data = {
        "csrf": form_token(client),
        "email": address,
        "name": fields.pop("name", ""),
        "scope": "chosen" if categories else "all",
        "categories": list(categories),
        "action": "subscribe",
        **fields,
    }
    return client.post("subscribe", data=data)


def mails_to(server, address: str, count: int = 1, wait: float = 30) -> list:
    """The raw messages the SMTP server took for an address (compat32: bytes as sent)."""
    deadline = time.monotonic() + wait
    while True:
        found = [
            email.message_from_bytes(raw, policy=compat32)
            for _, rcpts, raw in list(server.smtp.messages)
            if address in rcpts
        ]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def confirm_link(message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            text = part.get_payload(decode=True).decode(part.get_content_charset())
            return re.search(r"https?://\S+/confirm/\S+", text).group(0)
    raise AssertionError("no text part")


def token_for(server, purpose: str, address: str, now: datetime | None = None) -> str:
    """A link token as the digest or the confirmation mail would make it, with the same key."""
    store = SubscriberStore(server.state_dir)
    try:
        subscriber = store.by_email(address)
    finally:
        store.close()
    return Tokens([WEB_SECRET]).make(purpose, subscriber, now=now)


def state(server) -> tuple:
    """Everything the service could change: subscribers, consent log, suppressions."""
    with sqlite3.connect(server.state_dir / "state.sqlite3") as db:
        return tuple(
            tuple(db.execute(f"SELECT * FROM {table} ORDER BY 1"))
            for table in ("subscribers", "consent_log", "suppressions")
        )


def status_of(server, address: str) -> str | None:
    store = SubscriberStore(server.state_dir)
    try:
        found = store.by_email(address)
        return found.status if found else None
    finally:
        store.close()


def active(server, client, address, categories=("kejiribao",)) -> None:
    """Subscribe and confirm through the pages, as a reader does."""
    assert subscribe(client, address, categories).status_code == 200
    [mail] = mails_to(server, address)
    link = confirm_link(mail)
    assert client.post(link).status_code == 200
    assert status_of(server, address) == "active"


# --- pages and headers ---------------------------------------------------------------------------


def test_every_page_carries_the_security_headers(web_server):
    with browser(web_server) as client:
        for path in ("subscribe", "nowhere", "confirm/bad", "static/web.css", "healthz"):
            response = client.get(path)
            policy = response.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy, path
            assert response.headers["x-frame-options"] == "DENY", path
            assert response.headers["referrer-policy"] == "no-referrer", path


def test_healthz_answers_ok_at_the_root_and_under_the_base_path(web_server):
    assert httpx.get(f"{web_server.origin}/healthz").text == "ok\n"
    assert httpx.get(f"{web_server.url}/healthz").text == "ok\n"


def test_the_form_lists_each_category_by_display_name_with_its_own_name_as_value(web_server):
    page = httpx.get(f"{web_server.url}/subscribe").text
    boxes = re.findall(r'<input type="checkbox" name="categories" value="([^"]*)"> ([^<]*)<', page)
    assert sorted(boxes) == sorted(
        [
            ("kejiribao", "科技日报"),
            ("emnews", "东财滚动新闻"),
            ("宏观", "宏观"),
            ("A&amp;B", "A&amp;B"),
        ]
    )
    assert '<input type="radio" name="scope" value="all" checked>' in page
    assert '<label for="category-filter">' in page and '<label for="email">' in page


def test_the_page_loads_nothing_from_another_host(web_server):
    page = httpx.get(f"{web_server.url}/subscribe").text
    assert re.findall(r'(?:src|href)="([^"]+)"', page) == [
        "data:,",  # no favicon to fetch
        "/newsletter/static/web.css",
        "/newsletter/static/web_filter.js",
        "https://example.org/",
    ]  # the last one is the link to the site itself, a plain <a>


def test_the_csrf_cookie_is_httponly_and_samesite_lax_and_not_secure_over_http(web_server):
    response = httpx.get(f"{web_server.url}/subscribe")
    cookie = response.headers["set-cookie"]
    assert re.fullmatch(r"feeds_csrf=[\w-]+; Path=/newsletter; HttpOnly; SameSite=Lax", cookie)


def test_the_filter_works_without_javascript_and_keeps_what_was_typed_and_ticked(web_server):
    with browser(web_server) as client:
        data = {
            "csrf": form_token(client),
            "email": "filter@example.org",
            "scope": "chosen",
            "categories": ["emnews"],
            "q": "科技",
            "action": "filter",
        }
        page = client.post("subscribe", data=data).text
    boxes = re.findall(r'name="categories" value="([^"]*)"( checked)?>', page)
    assert boxes == [("emnews", " checked"), ("kejiribao", "")]
    assert 'value="filter@example.org"' in page and 'value="科技"' in page
    assert "显示 2 / 4 个分类" in page
    assert mails_to(web_server, "filter@example.org", wait=0) == []


# --- subscribe and confirm -------------------------------------------------------------------------


def test_subscribing_sends_one_confirmation_at_once_and_confirming_needs_a_post(web_server):
    with browser(web_server) as client:
        response = subscribe(client, "Reader@Example.org", ("kejiribao", "宏观"), name="读者")
        assert response.status_code == 200 and "请查收邮件" in response.text
        [mail] = mails_to(web_server, "Reader@example.org")
        assert mail["To"] == "=?utf-8?b?6K+76ICF?= <Reader@example.org>"
        link = confirm_link(mail)
        assert link.startswith(f"{web_server.url}/confirm/")
        page = client.get(link)
        assert page.status_code == 200 and "确认订阅</button>" in page.text
        assert status_of(web_server, "reader@example.org") == "pending"
        done = client.post(link)
    assert done.status_code == 200 and "订阅成功" in done.text
    store = SubscriberStore(web_server.state_dir)
    subscriber = store.by_email("reader@example.org")
    assert (subscriber.status, subscriber.name, subscriber.categories) == (
        "active",
        "读者",
        ("kejiribao", "宏观"),
    )
    store.close()


def test_all_categories_subscribes_to_every_category(web_server):
    with browser(web_server) as client:
        active(web_server, client, "everything@example.org", categories=())
    store = SubscriberStore(web_server.state_dir)
    assert store.by_email("everything@example.org").categories is None
    store.close()


def test_the_answer_is_the_same_for_new_pending_active_and_unsubscribed_addresses(web_server):
    with browser(web_server) as client:
        active(web_server, client, "known@example.org")
        active(web_server, client, "gone@example.org")
        client.post(f"unsubscribe/{token_for(web_server, 'unsubscribe', 'gone@example.org')}")
        subscribe(client, "waiting@example.org")
        answers = [
            subscribe(client, address)
            for address in (
                "new@example.org",
                "waiting@example.org",
                "known@example.org",
                "gone@example.org",
            )
        ]
    assert {(a.status_code, a.content) for a in answers} == {(200, answers[0].content)}
    assert {k: v for k, v in answers[0].headers.items() if k != "date"} == {
        k: v for k, v in answers[3].headers.items() if k != "date"
    }


def test_the_honeypot_gets_the_same_page_and_no_mail(web_server):
    with browser(web_server) as client:
        trapped = subscribe(client, "robot@example.org", website="http://spam.example")
        normal = subscribe(client, "human@example.org")
    assert (trapped.status_code, trapped.content) == (normal.status_code, normal.content)
    assert len(mails_to(web_server, "human@example.org")) == 1
    assert mails_to(web_server, "robot@example.org", wait=1) == []
    assert status_of(web_server, "robot@example.org") is None


def test_a_bad_address_or_no_category_gets_the_form_again_with_a_400(web_server):
    with browser(web_server) as client:
        bad = subscribe(client, "not-an-address")
        none = subscribe(client, "nocat@example.org", categories=(), scope="chosen")
    assert bad.status_code == 400 and "不是一个有效的电子邮件地址" in bad.text
    assert none.status_code == 400 and "请至少勾选一个分类" in none.text
    assert 'value="nocat@example.org"' in none.text


# --- what the server refuses ---------------------------------------------------------------------


def test_a_cross_site_post_without_the_forms_token_is_refused(web_server):
    before = state(web_server)
    attacker = {"origin": "https://evil.example", "sec-fetch-site": "cross-site"}
    data = {"email": "victim@example.org", "scope": "all", "action": "subscribe"}
    response = httpx.post(f"{web_server.url}/subscribe", data=data, headers=attacker)
    assert response.status_code == 403 and "请求被拒绝" in response.text
    with browser(web_server) as client:
        data["csrf"] = form_token(client)
        response = client.post("subscribe", data=data, headers=attacker)
        assert response.status_code == 403
        no_token = client.post("subscribe", data={**data, "csrf": ""})
        assert no_token.status_code == 403
    assert state(web_server) == before
    assert mails_to(web_server, "victim@example.org", wait=0) == []


def test_a_body_of_3_mb_gets_413_everywhere(web_server):
    body = b"email=" + b"a" * 3_000_000
    headers = {"content-type": "application/x-www-form-urlencoded"}
    for path in ("subscribe", "unsubscribe/x", "preferences/x", "confirm/x"):
        response = httpx.post(f"{web_server.url}/{path}", content=body, headers=headers)
        assert response.status_code == 413, path
        assert response.headers["x-frame-options"] == "DENY"


FIELDS = ("email", "name", "categories", "q", "scope")


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("bad", ["line\r\nBcc: x@example.org", "tab\there", "nul\x00"])
def test_control_characters_in_any_field_get_a_400_and_change_nothing(web_server, field, bad):
    before = state(web_server)
    with browser(web_server) as client:
        data = {
            "csrf": form_token(client),
            "email": "ctl@example.org",
            "scope": "all",
            "action": "subscribe",
            field: bad,
        }
        response = client.post("subscribe", data=data)
    assert response.status_code == 400 and "控制字符" in response.text
    assert "Bcc" not in response.text
    assert state(web_server) == before


@pytest.mark.parametrize("field", FIELDS)
def test_markup_in_any_field_is_never_echoed_as_markup(web_server, field):
    script = "<script>alert(1)</script>"
    with browser(web_server) as client:
        data = {
            "csrf": form_token(client),
            "email": "xss@example.org",
            "scope": "chosen",
            "categories": "kejiribao",
            "action": "filter",
            field: script,
        }
        filtered = client.post("subscribe", data=data)
        data["action"] = "subscribe"
        sent = client.post("subscribe", data=data)
    for response in (filtered, sent):
        assert response.status_code in (200, 400)
        assert "<script>alert" not in response.text


def test_posting_too_often_gets_429_with_retry_after(tmp_path, smtp_server):
    server = WebServer(tmp_path, smtp_server.port, "  subscribe_limit: 2\n  subscribe_window: 1h\n")
    server.start()
    try:
        with browser(server) as client:
            answers = [subscribe(client, f"r{n}@example.org").status_code for n in range(3)]
            refused = subscribe(client, "r9@example.org")
        assert answers == [200, 200, 429]
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
        assert "请求太频繁" in refused.text
    finally:
        assert server.stop() == 0
    assert status_of(server, "r2@example.org") is None


# --- token links -----------------------------------------------------------------------------------


def test_get_and_head_of_every_token_link_change_nothing(web_server):
    with browser(web_server) as client:
        subscribe(client, "scanned@example.org")
        [mail] = mails_to(web_server, "scanned@example.org")
        links = [confirm_link(mail)]
        active(web_server, client, "scanned2@example.org")
        links += [
            f"{web_server.url}/{purpose}/{token_for(web_server, purpose, 'scanned2@example.org')}"
            for purpose in ("unsubscribe", "preferences")
        ]
    before = state(web_server)
    scanner = httpx.Client(timeout=30)  # no cookies, no Origin: a mail scanner
    for link in links:
        for _ in range(2):
            assert scanner.get(link).status_code == 200
            assert scanner.head(link).status_code == 200
    assert state(web_server) == before
    assert status_of(web_server, "scanned@example.org") == "pending"
    assert status_of(web_server, "scanned2@example.org") == "active"


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"List-Unsubscribe=One-Click", "application/x-www-form-urlencoded"),
        (
            b'--b\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
            b"One-Click\r\n--b--\r\n",
            "multipart/form-data; boundary=b",
        ),
        (b"", None),
    ],
    ids=["urlencoded", "multipart", "empty"],
)
def test_one_click_unsubscribe_works_with_any_body_and_no_cookie(web_server, body, content_type):
    address = f"oneclick-{len(body)}@example.org"
    with browser(web_server) as client:
        active(web_server, client, address)
    link = f"{web_server.url}/unsubscribe/{token_for(web_server, 'unsubscribe', address)}"
    headers = {"content-type": content_type} if content_type else {}
    provider = httpx.Client(timeout=30)  # what a mail provider's server sends: no cookie, no form
    first = provider.post(link, content=body, headers=headers)
    again = provider.post(link, content=body, headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert "已退订" in first.text and first.content == again.content
    assert "location" not in first.headers
    assert status_of(web_server, address) == "unsubscribed"


def test_the_unsubscribe_page_has_a_button_and_a_link_to_the_preferences(web_server):
    with browser(web_server) as client:
        active(web_server, client, "unsubpage@example.org")
        page = client.get(
            f"unsubscribe/{token_for(web_server, 'unsubscribe', 'unsubpage@example.org')}"
        )
        assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in page.text
        preferences = re.search(r'href="(/newsletter/preferences/[^"]+)"', page.text).group(1)
        assert client.get(web_server.origin + preferences).status_code == 200
        button = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
        done = client.post(web_server.origin + button, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert status_of(web_server, "unsubpage@example.org") == "unsubscribed"


def test_refused_tokens_get_a_4xx_page_and_change_nothing(web_server):
    address = "refused@example.org"
    with browser(web_server) as client:
        subscribe(client, address)
        mails_to(web_server, address)
    long_ago = datetime.now(UTC) - timedelta(hours=73)
    good = token_for(web_server, "unsubscribe", address)
    cases = {
        "confirm/" + token_for(web_server, "confirm", address, now=long_ago): 410,  # expired
        "unsubscribe/" + good[:-2] + ("AA" if not good.endswith("AA") else "BB"): 400,  # tampered
        "unsubscribe/not-a-token": 400,
        "confirm/" + good: 400,  # an unsubscribe token is not a confirmation
        "preferences/" + token_for(web_server, "confirm", address): 400,
        "unsubscribe/"
        + Tokens(["another key"]).make("unsubscribe", _subscriber(web_server, address)): 400,
    }
    before = state(web_server)
    with browser(web_server) as client:
        for path, status in cases.items():
            for method in ("GET", "POST"):
                response = client.request(method, path, data={"csrf": form_token(client)})
                assert response.status_code == status, (path, method)
                assert "链接" in response.text
    assert state(web_server) == before


def test_revoked_tokens_are_refused_and_change_nothing(web_server):
    address = "revoked@example.org"
    with browser(web_server) as client:
        active(web_server, client, address)
    old = token_for(web_server, "unsubscribe", address)
    store = SubscriberStore(web_server.state_dir)
    store.revoke_tokens(store.by_email(address).id, Origin("cli"), datetime.now(UTC))
    store.close()
    before = state(web_server)
    response = httpx.post(f"{web_server.url}/unsubscribe/{old}")
    assert response.status_code == 410 and "链接已失效" in response.text
    assert state(web_server) == before


def _subscriber(server, address):
    store = SubscriberStore(server.state_dir)
    try:
        return store.by_email(address)
    finally:
        store.close()


# --- preferences -----------------------------------------------------------------------------------


def test_preferences_show_the_current_choice_and_change_it(web_server):
    address = "prefs@example.org"
    with browser(web_server) as client:
        active(web_server, client, address, categories=("kejiribao",))
        path = f"preferences/{token_for(web_server, 'preferences', address)}"
        page = client.get(path).text
        assert re.findall(r'value="([^"]*)" checked>', page) == ["chosen", "kejiribao"]
        data = {
            "csrf": CSRF.search(page).group(1),
            "name": "新名字",
            "scope": "chosen",
            "categories": ["emnews", "宏观"],
            "action": "save",
        }
        saved = client.post(path, data=data)
        assert saved.status_code == 200 and "已保存" in saved.text
        assert re.findall(r'value="([^"]*)" checked>', saved.text) == ["chosen", "emnews", "宏观"]
        forged = httpx.post(
            f"{web_server.url}/{path}",
            data={**data, "categories": ["A&B"]},
            headers={"origin": "https://evil.example"},
        )
        assert forged.status_code == 403
    subscriber = _subscriber(web_server, address)
    assert (subscriber.name, subscriber.categories) == ("新名字", ("emnews", "宏观"))


def test_unsubscribing_from_everything_on_the_preferences_page(web_server):
    address = "prefs-out@example.org"
    with browser(web_server) as client:
        active(web_server, client, address)
        path = f"preferences/{token_for(web_server, 'preferences', address)}"
        data = {"csrf": form_token(client, path), "action": "unsubscribe"}
        response = client.post(path, data=data)
        assert response.status_code == 200 and "已退订" in response.text
        again = client.get(path)
    assert status_of(web_server, address) == "unsubscribed"
    assert again.status_code == 409 and "目前没有订阅" in again.text


# --- the process -----------------------------------------------------------------------------------


def test_the_access_log_holds_no_token_address_or_query(web_server):
    address = "logged@example.org"
    with browser(web_server) as client:
        active(web_server, client, address)
        token = token_for(web_server, "unsubscribe", address)
        client.get(f"unsubscribe/{token}?email={address}")
        client.post(f"unsubscribe/{token}")
    time.sleep(0.5)  # the log line is written after the response
    log = web_server.log.read_text(encoding="utf-8")
    assert "POST /newsletter/unsubscribe/{token} 200" in log
    assert token not in log and address not in log and "logged" not in log
    access = [line for line in log.splitlines() if "feeds.web.access" in line]
    assert access and not any("127.0.0.1" in line or "?" in line for line in access)


def test_sigterm_lets_the_request_in_flight_finish_and_exits_0(tmp_path, smtp_server):
    server = WebServer(tmp_path, smtp_server.port).start()
    with browser(server) as client:
        token = form_token(client)
        cookie = client.cookies["feeds_csrf"]
    body = urlencode({"csrf": token, "email": "late@example.org", "scope": "all"}).encode()
    head = (
        f"POST /newsletter/subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Cookie: feeds_csrf={cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as connection:
        connection.sendall(head + body[:10])
        time.sleep(0.5)  # the server has the request's head: it is in flight
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        connection.sendall(body[10:])
        answer = connection.makefile("rb").readline()
    assert answer == b"HTTP/1.1 200 OK\r\n"
    assert server.process.wait(timeout=60) == 0
    assert status_of(server, "late@example.org") == "pending"


def test_a_missing_secret_stops_with_one_line_and_exit_2(tmp_path, smtp_server):
    import os
    import subprocess

    server = WebServer(tmp_path, smtp_server.port)
    env = {k: v for k, v in os.environ.items() if k != "FEEDS_SECRET"}
    result = subprocess.run(
        feeds_args("serve", "--config", server.config), capture_output=True, text=True, env=env
    )
    assert (result.returncode, result.stderr) == (
        2,
        "error: environment variable FEEDS_SECRET is not set\n",
    )


def test_a_port_in_use_is_one_line_and_exit_1_without_claiming_to_serve(tmp_path, smtp_server):
    import subprocess

    server = WebServer(tmp_path, smtp_server.port)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        result = subprocess.run(
            feeds_args("serve", "--config", server.config, "--port", port),
            capture_output=True,
            text=True,
            env={**__import__("os").environ, "FEEDS_SECRET": WEB_SECRET},
            timeout=120,
        )
    finally:
        taken.close()
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        "",
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n",
    )


def test_without_a_web_section_serve_stops_with_one_line_and_exit_2(tmp_path, site):
    import subprocess

    config = tmp_path / "config.yaml"
    config.write_text(f"site_dir: {site.root}\n", encoding="utf-8")
    result = subprocess.run(feeds_args("serve", "--config", config), capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (
        2,
        "error: web: missing; feeds serve needs web.url and web.secret_env\n",
    )


def test_forms_work_when_web_url_is_written_with_capitals(tmp_path, smtp_server):
    server = WebServer(tmp_path, smtp_server.port)
    written = f"http://LocalHost:{server.port}/newsletter"
    server.config.write_text(
        server.config.read_text().replace(f"url: {server.url}", f"url: {written}"),
        encoding="utf-8",
    )
    server.origin = f"http://localhost:{server.port}"  # what a browser sends as Origin
    server.start()
    server.smtp = smtp_server
    try:
        with browser(server) as client:
            response = subscribe(client, "capitals@example.org")
    finally:
        server.stop()
    assert response.status_code == 200 and "请查收邮件" in response.text


def test_a_web_url_with_a_chinese_path_serves_its_pages_and_links_there(tmp_path, smtp_server):
    server = WebServer(tmp_path, smtp_server.port)
    server.config.write_text(
        server.config.read_text().replace(f"url: {server.url}", f"url: {server.origin}/订阅"),
        encoding="utf-8",
    )
    server.url = f"{server.origin}/%E8%AE%A2%E9%98%85"
    server.start()
    server.smtp = smtp_server
    try:
        with browser(server) as client:
            response = subscribe(client, "path@example.org")
        [mail] = mails_to(server, "path@example.org")
    finally:
        server.stop()
    assert response.status_code == 200 and "请查收邮件" in response.text
    assert confirm_link(mail).startswith(f"{server.url}/confirm/")


# --- confirmation mails: who may change what, failures, slow relays ------------------------------


def test_a_stranger_cannot_change_an_active_readers_categories_or_name(tmp_path, smtp_server):
    server = WebServer(tmp_path, smtp_server.port, "  confirm_interval: 1s\n").start()
    server.smtp = smtp_server
    address = "victim@example.org"
    try:
        with browser(server) as client:
            active(server, client, address)
        time.sleep(1.5)  # past confirm_interval: the address may get a mail again
        with browser(server) as stranger:
            subscribe(stranger, address, ("emnews",), name="Win a prize at scam.example")
        first, second = mails_to(server, address, count=2)
        text = second.get_payload()[0].get_payload(decode=True).decode("utf-8")
        assert "/confirm/" not in text and f"{server.url}/preferences/" in text
        assert "scam" not in str(second["To"]) and "scam" not in text
        for link in re.findall(r"https?://\S+/confirm/\S+", confirm_link(first)):
            httpx.post(link)  # the reader's old confirmation link, pressed again
    finally:
        server.stop()
    store = SubscriberStore(server.state_dir)
    reader = store.by_email(address)
    store.close()
    assert (reader.status, reader.name, reader.categories) == ("active", None, ("kejiribao",))


def test_the_confirmation_mail_describes_what_confirming_would_apply(web_server):
    address = "returning@example.org"
    with browser(web_server) as client:
        active(web_server, client, address)
        client.post(f"unsubscribe/{token_for(web_server, 'unsubscribe', address)}")
    store = SubscriberStore(web_server.state_dir)
    with sqlite3.connect(store.path) as db:  # a day later, as far as the interval knows
        db.execute("UPDATE subscribers SET confirm_sent_at = NULL")
    db.close()
    store.close()
    with browser(web_server) as client:
        subscribe(client, address, ("emnews",), name="回来的读者")
    mail = mails_to(web_server, address, count=2)[1]
    text = mail.get_payload()[0].get_payload(decode=True).decode("utf-8")
    assert "（东财滚动新闻）" in text and "科技日报" not in text


def test_a_confirmation_mail_that_could_not_go_out_does_not_block_asking_again(web_server):
    address = "unlucky@example.org"
    web_server.smtp.refuse.add(address)
    with browser(web_server) as client:
        subscribe(client, address)
        wait_for(lambda: address in web_server.smtp.rcpts)
        web_server.smtp.refuse.discard(address)
        deadline = time.monotonic() + 30
        while not mails_to(web_server, address, wait=0.5) and time.monotonic() < deadline:
            subscribe(client, address)
    assert len(mails_to(web_server, address, wait=0)) == 1


def test_a_relay_that_never_answers_leaves_every_page_answering(tmp_path):
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(200)  # accepts connections in the kernel, never says a word
    server = WebServer(tmp_path, blackhole.getsockname()[1], "  subscribe_limit: 10000\n")
    server.config.write_text(
        server.config.read_text().replace("retries: 0", "retries: 3, timeout: 300"),
        encoding="utf-8",
    )
    server.start()
    try:
        fresh = httpx.Limits(max_keepalive_connections=0)  # no request waits behind another
        with httpx.Client(
            base_url=server.url + "/",
            headers={"origin": server.origin, "sec-fetch-site": "same-origin"},
            limits=fresh,
            timeout=30,
        ) as client:
            for number in range(60):
                assert subscribe(client, f"r{number}@example.org").status_code == 200
        assert httpx.get(f"{server.origin}/healthz", timeout=30).text == "ok\n"
        token = token_for(server, "unsubscribe", "r1@example.org")
        assert httpx.get(f"{server.url}/unsubscribe/{token}", timeout=30).status_code == 200
    finally:
        blackhole.close()  # the waiting connections are reset: the mail threads end
        server.process.kill()
        server.process.wait(timeout=60)


# --- the digest ------------------------------------------------------------------------------------


class GatedHandler:
    """An SMTP handler that holds each message until the test opens the gate: a slow relay."""

    def __init__(self):
        import threading

        from tests.conftest import RecordingHandler

        self.inner = RecordingHandler()
        self.messages = self.inner.messages
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = threading.Event()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return await self.inner.handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        while not self.gate.is_set():
            self.waiting.set()
            await asyncio.sleep(0.02)
        return await self.inner.handle_DATA(server, session, envelope)


def test_an_unsubscribe_during_delivery_stops_that_readers_message(tmp_path):
    import os
    import subprocess

    from aiosmtpd.controller import Controller

    from tests.conftest import free_port

    relay = GatedHandler()
    controller = Controller(relay, hostname="127.0.0.1", port=free_port())
    controller.start()
    server = WebServer(tmp_path, controller.port).start()
    server.smtp = relay
    try:
        # More readers than the 4 connections: the last one's message waits for a free one.
        readers = [f"{letter}@example.org" for letter in "abcde"] + ["z-last@example.org"]
        with browser(server) as client:
            for address in readers:
                active(server, client, address, categories=())
        one_click = f"{server.url}/unsubscribe/{token_for(server, 'unsubscribe', readers[-1])}"
        relay.gate.clear()
        digest = subprocess.Popen(
            feeds_args("digest", "--config", server.config, "--since", "2022-01-01"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "FEEDS_SECRET": WEB_SECRET},
        )
        assert relay.waiting.wait(timeout=120)  # the first digest message is on the wire
        assert httpx.post(one_click, content=b"List-Unsubscribe=One-Click").status_code == 200
        relay.gate.set()
        out, err = digest.communicate(timeout=120)
    finally:
        server.stop()
        controller.stop()
    assert digest.returncode == 0, err
    digests = [
        (rcpts, email.message_from_bytes(raw, policy=compat32))
        for _, rcpts, raw in relay.messages
        if b"List-Unsubscribe-Post" in raw
    ]
    assert sorted(r for rcpts, _ in digests for r in rcpts) == readers[:-1]
    assert out.startswith("digest ") and "5 sent" in out
    for _, message in digests:
        assert message["List-Unsubscribe"].startswith(f"<{server.url}/unsubscribe/")
