"""The confirmation mail of double opt-in: sent at once, through the digest's own transport.

Only a reader who can read the mailbox can confirm, so nobody subscribes
somebody else. The link leads to a page with a button: mail scanners fetch
links, and a fetch must never confirm anything.
"""

from __future__ import annotations

import secrets as random
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import urlsplit

import jinja2

from feeds.config import Settings, WebOptions, web_secrets
from feeds.errors import ConfigError, DeliveryError, TemplateError
from feeds.newsletter.deliver import PermanentFailure, TransientFailure, open_transport
from feeds.newsletter.digest import inline_css, one_line
from feeds.newsletter.mailpolicy import recipient_address
from feeds.newsletter.subscribers import Subscriber
from feeds.newsletter.tokens import Tokens
from feeds.templating import environment


def describe_period(period: timedelta) -> str:
    """'3 天', '12 小时' or '30 分钟': how long the link works, as the reader reads it."""
    seconds = int(period.total_seconds())
    for size, unit in ((86400, "天"), (3600, "小时")):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{max(1, seconds // 60)} 分钟"


def confirmation_message(settings: Settings, subscriber: Subscriber, now: datetime) -> EmailMessage:
    """The mail with the reader's /confirm/<token> link, in the digest's look.

    ``subscriber`` is as confirming would make them (``SubscriberStore.as_requested``):
    the mail says what the button applies, not what is stored today.
    """
    web = _web(settings)
    token = Tokens(web_secrets(settings)).make("confirm", subscriber, now=now)
    subject = one_line(f"请确认订阅 {settings.site.title} 的每日摘要")
    labels = [settings.display_name(c) for c in subscriber.categories or ()]
    context = {
        "confirm_url": f"{web.url}/confirm/{token}",
        "valid_for": describe_period(web.confirm_ttl),
        "categories_label": "、".join(labels) or "全部栏目",
    }
    return _message(settings, subscriber, now, "confirm", subject, context)


def subscribed_message(settings: Settings, subscriber: Subscriber, now: datetime) -> EmailMessage:
    """The answer to a request for an address already subscribed: its preferences link.

    Anybody can type anybody's address into the form, so such a request
    changes nothing; the reader who really wants another choice makes it on
    their own preferences page.
    """
    web = _web(settings)
    token = Tokens(web_secrets(settings)).make("preferences", subscriber, now=now)
    subject = one_line(f"您已订阅 {settings.site.title} 的每日摘要")
    context = {"preferences_url": f"{web.url}/preferences/{token}"}
    return _message(settings, subscriber, now, "subscribed", subject, context)


def _web(settings: Settings) -> WebOptions:
    if settings.web is None:
        raise ConfigError("web: missing (confirmation links need web.url)")
    return settings.web


def _message(
    settings: Settings,
    subscriber: Subscriber,
    now: datetime,
    template: str,
    subject: str,
    context: dict,
) -> EmailMessage:
    site = settings.site
    context = {
        "site": site,
        "subject": subject,
        "email": subscriber.email,
        "name": subscriber.name,
        **context,
    }
    env = environment(
        settings.templates_dir,
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    try:
        text = env.get_template(f"{template}.txt").render(context)
        html = inline_css(env.get_template(f"{template}.html").render(context))
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{template} mail: {exc}") from None

    sender = settings.sender
    domain = urlsplit(site.url).hostname or sender.domain
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = Address(one_line(sender.display_name), sender.username, sender.domain)
    message["To"] = recipient_address(one_line(subscriber.name or ""), subscriber.email)
    message["Date"] = format_datetime(now)
    # Unique per mail: the outbox keeps one file per Message-ID, and a second
    # request a day later is a new mail, not a repeat of the first.
    message["Message-ID"] = f"<{template}.{subscriber.id}.{random.token_hex(8)}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def send_confirmation(settings: Settings, subscriber: Subscriber, now: datetime) -> None:
    """Compose and hand over the mail a subscribe request asks for; DeliveryError if it
    could not go.

    An active subscriber gets their preferences link, anybody else the
    confirmation link. One attempt only: the reader is waiting for it, and a
    relay that needs retries is better told by the log than by a thread held
    for minutes.
    """
    if subscriber.status == "active":
        message = subscribed_message(settings, subscriber, now)
    else:
        message = confirmation_message(settings, subscriber, now)
    digest = settings.digest
    once = digest.smtp.model_copy(update={"retries": 0})
    transport = open_transport(digest.transport, once, settings.state_dir)
    try:
        transport.send(message, settings.sender.addr_spec, subscriber.email)
    except (PermanentFailure, TransientFailure) as exc:
        raise DeliveryError(f"confirmation mail not sent: {exc}") from None
    finally:
        transport.close()
