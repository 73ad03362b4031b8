"""The routes: parse the request, call one function of the newsletter code, render one page.

A GET or HEAD changes nothing anywhere: mail scanners fetch every link in a
mail, so confirming and unsubscribing happen only on POST. Every refused
token gets one page and one status, whatever route it came to.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from starlette.background import BackgroundTask
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from feeds.errors import AddressError, FeedsError
from feeds.newsletter.confirm import send_confirmation
from feeds.newsletter.subscribers import Origin, Subscriber
from feeds.newsletter.tokens import Claim, Refusal, check
from feeds.web.csrf import COOKIE, FIELD
from feeds.web.forms import (
    MAX_FIELDS,
    FormProblem,
    check_choice,
    chosen_categories,
    has_control_characters,
    read_values,
)
from feeds.web.pages import Category, FormValues
from feeds.web.ratelimit import client_address, client_key

if TYPE_CHECKING:
    from feeds.web.app import WebService

log = logging.getLogger(__name__)

REFUSALS = {
    Refusal.TAMPERED: (400, "链接无效", "这个链接不完整或被改动过。请复制邮件中的完整链接。"),
    Refusal.WRONG_PURPOSE: (400, "链接无效", "这个链接不能用于这个页面。请使用邮件中对应的链接。"),
    Refusal.EXPIRED: (410, "链接已过期", "确认链接已过期。请重新订阅，我们会发一封新的确认邮件。"),
    Refusal.REVOKED: (410, "链接已失效", "这个链接已经失效。请使用最近一封邮件中的链接。"),
}
CONTROL_CHARACTERS = "表单中含有换行符或其他控制字符，无法接受。请重新填写。"


def service(request: Request) -> WebService:
    return request.app.state.web


def origin(request: Request, source: str) -> Origin:
    """Who acted, for the consent log (the store truncates the address)."""
    web = service(request)
    peer = request.client.host if request.client else None
    ip = client_address(peer, request.headers.getlist("x-forwarded-for"), web.trusted_proxies)
    return Origin(source, ip=ip, user_agent=request.headers.get("user-agent"))


async def read_form(request: Request) -> FormData:
    return await request.form(max_fields=MAX_FIELDS, max_files=0)


def refused(web: WebService, refusal: Refusal) -> Response:
    status, title, line = REFUSALS[refusal]
    link = (
        {"url": f"{web.base}/subscribe", "text": "重新订阅"} if refusal is Refusal.EXPIRED else None
    )
    return web.pages.message(title, line, status=status, link=link)


def forbidden(web: WebService) -> Response:
    return web.pages.message(
        "请求被拒绝",
        "这个表单已过期，或请求来自其他网站。请返回订阅页面，刷新后重新提交。",
        status=403,
        link={"url": f"{web.base}/subscribe", "text": "返回订阅页面"},
    )


def claim_of(request: Request, purpose: str) -> Claim | Refusal:
    """What the token in the path claims; checking it against the store comes next."""
    web = service(request)
    max_age = web.settings.web.confirm_ttl if purpose == "confirm" else None
    return web.tokens.read(request.path_params["token"], purpose, now=web.now(), max_age=max_age)


async def holder(request: Request, purpose: str) -> Subscriber | Response:
    """The subscriber a token in the path names, or the page saying why it is refused."""
    web = service(request)
    claim = claim_of(request, purpose)
    if isinstance(claim, Refusal):
        return refused(web, claim)
    found = await web.read(check, claim, web.store)
    return refused(web, found) if isinstance(found, Refusal) else found


def with_csrf_cookie(request: Request, render) -> Response:
    """A form page, with the cookie its CSRF token is tied to (set if the browser has none)."""
    web = service(request)
    cookie = request.cookies.get(COOKIE)
    fresh = not cookie or len(cookie) > 64
    if fresh:
        cookie = web.csrf.new_cookie()
    response = render(web.csrf.form_token(cookie))
    if fresh:
        response.headers.append("set-cookie", web.csrf.cookie_header(cookie))
    response.headers["cache-control"] = "no-store"
    return response


def csrf_ok(request: Request, form: FormData) -> bool:
    token = form.get(FIELD)
    return service(request).csrf.valid(
        request.headers, request.cookies.get(COOKIE), token if isinstance(token, str) else None
    )


# --- subscribe -------------------------------------------------------------------------------


def subscribe_page(
    request: Request, values: FormValues, *, error: str | None = None, status: int = 200
) -> Response:
    web = service(request)
    return with_csrf_cookie(
        request,
        lambda csrf: web.pages.form(
            "web_subscribe.html",
            values,
            web.categories.get(),
            csrf=csrf,
            error=error,
            status=status,
        ),
    )


async def subscribe_form(request: Request) -> Response:
    return subscribe_page(request, FormValues())


def check_inbox(web: WebService, task: BackgroundTask | None = None) -> Response:
    """The one answer to every accepted request, whatever the address's state: no enumeration."""
    response = web.pages.message(
        "请查收邮件",
        "如果这个地址可以订阅，我们刚刚给它发了一封确认邮件。",
        "请点击邮件中的链接并确认，订阅才会开始。没有收到的话，请看看垃圾邮件文件夹。",
    )
    response.background = task
    return response


async def subscribe(request: Request) -> Response:
    web = service(request)
    form = await read_form(request)
    if not csrf_ok(request, form):
        return forbidden(web)
    if has_control_characters(form):
        return subscribe_page(request, FormValues(), error=CONTROL_CHARACTERS, status=400)
    known = {category.name for category in web.categories.get()}
    values = read_values(form, known)
    if form.get("action") == "filter":
        return subscribe_page(request, values)
    if form.get("website"):  # the honeypot: only robots fill a field nobody sees
        return check_inbox(web)
    try:
        check_choice(values)
    except FormProblem as problem:
        return subscribe_page(request, values, error=str(problem), status=400)
    who = origin(request, "web")
    key = client_key(who.ip or "unknown")
    if not web.limiter.hit(key):
        response = web.pages.message("请求太频繁", "请稍后再试。", status=429)
        response.headers["retry-after"] = str(web.limiter.retry_after(key))
        return response
    now = web.now()
    try:
        subscriber, send = await web.write(
            partial(web.store.request, confirm_interval=web.settings.web.confirm_interval),
            values.email,
            values.name or None,
            chosen_categories(values),
            who,
            now,
        )
    except AddressError:
        error = "这不是一个有效的电子邮件地址，请检查后重新填写。"
        return subscribe_page(request, values, error=error, status=400)
    task = BackgroundTask(queue_mail, web, subscriber.id, now) if send and subscriber else None
    return check_inbox(web, task)


def queue_mail(web: WebService, subscriber_id: int, now: datetime) -> None:
    """Hand the mail to the service's own mail threads once the answer is sent, so how
    long it takes tells nothing about the address, and a slow relay holds no thread
    the pages need."""
    web.mailer.submit(mail_confirmation, web, subscriber_id, now)


def mail_confirmation(web: WebService, subscriber_id: int, now: datetime) -> None:
    """Send the mail the request asked for; if it did not go, the reader may ask again."""
    try:
        subscriber = web.store.as_requested(subscriber_id)
        if subscriber is not None:
            send_confirmation(web.settings, subscriber, now)
    except FeedsError as exc:
        web.store.mail_failed(subscriber_id, now)
        log.error("confirmation mail for subscriber %d not sent: %s", subscriber_id, exc)
    except Exception:  # a bug; nobody awaits this thread, so say it here
        web.store.mail_failed(subscriber_id, now)
        log.exception("confirmation mail for subscriber %d not sent", subscriber_id)


# --- confirm ---------------------------------------------------------------------------------


async def confirm_page(request: Request) -> Response:
    web = service(request)
    found = await holder(request, "confirm")
    if isinstance(found, Response):
        return found
    return web.pages.render(
        "web_button.html",
        title="确认订阅",
        lines=[f"点击下面的按钮，确认 {found.email} 订阅每日摘要。"],
        action=request.url.path,
        fields=[],
        button="确认订阅",
        danger=False,
        link=None,
    )


async def confirm(request: Request) -> Response:
    web = service(request)
    if not web.csrf.same_site(request.headers):
        return forbidden(web)
    found = await holder(request, "confirm")
    if isinstance(found, Response):
        return found
    confirmed = await web.write(
        web.store.confirm, found.id, found.token_version, origin(request, "web"), web.now()
    )
    if confirmed is None:
        return refused(web, Refusal.REVOKED)
    return web.pages.message(
        "订阅成功",
        f"{confirmed.email} 将从下一期开始收到每日摘要。",
        link=preferences_link(web, confirmed, "更改分类或称呼"),
    )


# --- unsubscribe -----------------------------------------------------------------------------


def preferences_link(web: WebService, subscriber: Subscriber, text: str) -> dict[str, str]:
    token = web.tokens.make("preferences", subscriber)
    return {"url": f"{web.base}/preferences/{token}", "text": text}


async def unsubscribe_page(request: Request) -> Response:
    web = service(request)
    found = await holder(request, "unsubscribe")
    if isinstance(found, Response):
        return found
    return web.pages.render(
        "web_button.html",
        title="退订",
        lines=[f"点击下面的按钮，{found.email} 将不再收到每日摘要。"],
        action=request.url.path,
        fields=[("List-Unsubscribe", "One-Click")],
        button="退订",
        danger=True,
        link=preferences_link(web, found, "只想少收一些？更改分类"),
    )


async def unsubscribe(request: Request) -> Response:
    """RFC 8058 one-click: any body (urlencoded, multipart, empty), no cookie, no form token.

    Always 200 on success, never a redirect, and the same answer when repeated.
    """
    web = service(request)
    claim = claim_of(request, "unsubscribe")
    if isinstance(claim, Refusal):
        return refused(web, claim)
    done = await web.write(
        unsubscribe_claim, web.store, claim, origin(request, "one-click"), web.now()
    )
    return refused(web, done) if isinstance(done, Refusal) else unsubscribed(web, done)


def unsubscribe_claim(store, claim: Claim, who: Origin, now) -> Subscriber | Refusal:
    """Check and unsubscribe in one trip to the writer thread: the one-click burst path."""
    found = check(claim, store)
    if isinstance(found, Refusal):
        return found
    return store.unsubscribe(found.id, who, now) or Refusal.REVOKED


def unsubscribed(web: WebService, subscriber: Subscriber) -> Response:
    return web.pages.message(
        "已退订",
        f"{subscriber.email} 不会再收到每日摘要。",
        link={"url": f"{web.base}/subscribe", "text": "改变主意了？重新订阅"},
    )


# --- preferences -----------------------------------------------------------------------------


def preferences_form(
    request: Request,
    subscriber: Subscriber,
    values: FormValues,
    *,
    error: str | None = None,
    saved: bool = False,
    status: int = 200,
) -> Response:
    web = service(request)
    categories = web.categories.get()
    known = {category.name for category in categories}
    extra = tuple(
        Category(name, web.settings.display_name(name))
        for name in sorted(values.categories)
        if name not in known
    )
    return with_csrf_cookie(
        request,
        lambda csrf: web.pages.form(
            "web_preferences.html",
            values,
            extra + categories,
            csrf=csrf,
            email=subscriber.email,
            action=request.url.path,
            error=error,
            saved=saved,
            status=status,
        ),
    )


def current_values(subscriber: Subscriber) -> FormValues:
    return FormValues(
        email=subscriber.email,
        name=subscriber.name or "",
        everything=subscriber.categories is None,
        categories=frozenset(subscriber.categories or ()),
    )


async def preferences_page(request: Request) -> Response:
    web = service(request)
    found = await holder(request, "preferences")
    if isinstance(found, Response):
        return found
    if found.status != "active":
        return not_subscribed(web, found)
    return preferences_form(request, found, current_values(found))


def not_subscribed(web: WebService, subscriber: Subscriber) -> Response:
    return web.pages.message(
        "没有订阅",
        f"{subscriber.email} 目前没有订阅每日摘要。",
        status=409,
        link={"url": f"{web.base}/subscribe", "text": "重新订阅"},
    )


async def preferences(request: Request) -> Response:
    web = service(request)
    form = await read_form(request)
    if not csrf_ok(request, form):
        return forbidden(web)
    found = await holder(request, "preferences")
    if isinstance(found, Response):
        return found
    if form.get("action") == "unsubscribe":
        done = await web.write(web.store.unsubscribe, found.id, origin(request, "web"), web.now())
        return unsubscribed(web, done or found)
    if found.status != "active":
        return not_subscribed(web, found)
    if has_control_characters(form):
        error = CONTROL_CHARACTERS
        return preferences_form(request, found, current_values(found), error=error, status=400)
    known = {category.name for category in web.categories.get()}
    values = read_values(form, known, allowed=found.categories or ())
    if form.get("action") == "filter":
        return preferences_form(request, found, values)
    try:
        check_choice(values)
    except FormProblem as problem:
        return preferences_form(request, found, values, error=str(problem), status=400)
    changed = await web.write(
        web.store.update,
        found.id,
        values.name or None,
        chosen_categories(values),
        origin(request, "web"),
        web.now(),
    )
    return preferences_form(request, changed or found, values, saved=True)


# --- the rest --------------------------------------------------------------------------------


async def static(request: Request) -> Response:
    response = service(request).pages.static.get(request.path_params["name"])
    if response is None:
        raise HTTPException(404)
    return response


async def healthz(request: Request) -> Response:
    """200 while the service can read its database: what a load balancer needs to know."""
    await service(request).read(service(request).store.get, 0)
    return PlainTextResponse("ok\n", headers={"cache-control": "no-store"})
