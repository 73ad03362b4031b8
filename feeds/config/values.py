"""One setting value each: text, URLs, time zones, durations, mailboxes, checked and normalised.

Pure functions that raise ValueError with a sentence the user can act on;
the models in ``schema`` and the readers in ``files`` call them.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from email.headerregistry import Address


# C0 controls except tab, LF and CR; DEL and C1; and what XML 1.0 cannot carry at all.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


VALUE_KINDS = {bytes: "binary data", list: "a list", dict: "a mapping", bool: "true/false"}


def parse_text(value: Any) -> str:
    """A setting that ends up in feeds and mail headers, as text.

    Numbers and dates read as text, as Jekyll prints them; binary data
    (``!!binary``), lists, mappings and control characters are refused,
    because no feed or header can carry them faithfully.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float | date):
        kind = VALUE_KINDS.get(type(value), type(value).__name__)
        raise ValueError(f"expected text, got {kind}")
    text = str(value)
    if bad := _CONTROL.search(text):
        raise ValueError(f"contains the control character U+{ord(bad.group()):04X}")
    return text


def parse_title(value: Any) -> str:
    """A one-line title: line breaks and tabs (a YAML block scalar's) read as spaces."""
    return " ".join(parse_text(value).split())


_LANGUAGE = re.compile(r"^[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*$")


def parse_language(value: Any) -> str:
    """A language tag such as zh-CN (Jekyll sites also write zh_CN); '' for none."""
    text = parse_text(value).strip()
    if text and not _LANGUAGE.match(text):
        raise ValueError(f"expected a language tag such as zh-CN, got {text!r}")
    return text.replace("_", "-")


_UNSAFE_IN_URL = re.compile(r"[\s<>\"{}|\\^`]")


def shown(value: Any) -> str:
    """A value as an error message quotes it, with the password of a URL in it masked:
    config errors end up in cron mail and service logs, where a password must not."""
    text = repr(value)
    if not isinstance(value, str) or "@" not in value:
        return text
    try:
        password = urlsplit(value).password
    except ValueError:
        return text
    if not password:
        return text
    return repr(value.replace(f":{password}@", ":***@", 1))


def parse_site_url(value: str) -> str:
    """An absolute http(s) URL without a trailing slash; raises ValueError if it is not one.

    Credentials in it would be published in every feed, so they are refused.
    """
    text = parse_text(value).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or _UNSAFE_IN_URL.search(text):
        raise ValueError(f"expected an absolute http(s) URL, got {shown(value)}")
    if parts.query or parts.fragment:
        raise ValueError(f"expected a URL without query or fragment, got {shown(value)}")
    if "@" in parts.netloc:
        raise ValueError(f"expected a URL without user name or password, got {shown(value)}")
    try:
        port = parts.port  # ValueError when out of range or not a number
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError(f"expected a port between 1 and 65535, got {shown(value)}")
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")


def parse_timezone(name: str) -> ZoneInfo:
    """An IANA zone such as Asia/Shanghai; raises ValueError naming the bad value.

    OSError covers names of tzdata folders (``America``), which ZoneInfo tries to open.
    """
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name such as Asia/Shanghai)"
        ) from None


def parse_baseurl(value: Any) -> str:
    """Jekyll's baseurl: '' or '/path' without a trailing slash."""
    text = parse_text(value or "").strip().strip("/")
    if re.search(r"[\s?#<>\"\\]", text):
        raise ValueError(f"expected a path such as /blog, got {value!r}")
    return f"/{text}" if text else ""


def parse_author(value: Any) -> str | None:
    """Jekyll accepts ``author: Name`` and ``author: {name: Name, email: ...}``."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        name = value.get("name")
        if not name:
            raise ValueError("expected a name or a mapping with a 'name'")
        return parse_title(name)
    return parse_title(value)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


MAX_DURATION_DAYS = 3650


def parse_duration(value: Any) -> timedelta:
    """'30s', '10m', '1h', '2d' or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(str(value))
    if not match or isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s, 10m, 1h or 2d, got {value!r}")
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds <= 0:
        raise ValueError(f"expected a duration longer than zero, got {value!r}")
    if seconds > MAX_DURATION_DAYS * _UNITS["d"]:
        raise ValueError(f"expected a duration of at most {MAX_DURATION_DAYS}d, got {value!r}")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest of '45s', '10m', '6h', '2d' that says it exactly."""
    seconds = value.total_seconds()
    for unit in ("d", "h", "m"):
        if seconds >= _UNITS[unit] and seconds % _UNITS[unit] == 0:
            return f"{seconds / _UNITS[unit]:g}{unit}"
    return f"{seconds:g}s"


def parse_mailbox(value: str) -> Address:
    """'Name <addr@host>' or 'addr@host' as an Address; ValueError when it is not one."""
    from email.headerregistry import Address
    from email.utils import parseaddr

    name, addr = parseaddr(str(value))
    if "@" not in addr or any(ch in str(value) for ch in "\r\n"):
        raise ValueError(f"expected 'Name <address@domain>', got {value!r}")
    user, _, domain = addr.rpartition("@")
    return Address(display_name=name, username=user, domain=domain)


def parse_hub_url(value: str) -> str:
    """A WebSub hub: an absolute http(s) URL, kept exactly as written (hubs differ on slashes)."""
    parse_site_url(value)
    return str(value).strip()


def check_email(value: str) -> str:
    """A deliverable-looking address (syntax only: no DNS look-up), normalised."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"value is not a valid email address: {exc}") from None


LOCAL_HOSTS = ("127.0.0.1", "localhost")


def parse_web_url(value: str) -> str:
    """The service's public base URL: https, except on this machine (tests, development).

    Kept in the one form both of its readers need: browsers send the origin
    lower-cased, IDNA-encoded and without a default port (the CSRF check
    compares with it), and URLs in mail headers must be ASCII, or the mail
    library turns List-Unsubscribe into encoded words no provider reads.
    """
    parts = urlsplit(parse_site_url(value))
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    if scheme != "https" and host not in LOCAL_HOSTS:
        raise ValueError(
            f"expected an https:// URL (http only for 127.0.0.1 and localhost), got {value!r}"
        )
    host = ascii_host(host, value)
    if parts.port is not None and parts.port != {"https": 443, "http": 80}[scheme]:
        host = f"{host}:{parts.port}"
    path = quote(parts.path, safe="/%:@!$&'()*+,;=-._~")
    return f"{scheme}://{host}{path}"


def parse_network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A trusted proxy: one address or a network whose host bits are zero."""
    try:
        return ipaddress.ip_network(value)
    except (TypeError, ValueError):
        raise ValueError("value is not a valid IPv4 or IPv6 network") from None


def ascii_host(host: str, value: str) -> str:
    """The host as it goes on the wire: an IP address as it is, a name IDNA-encoded."""
    import idna

    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            return idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise ValueError(f"expected a host name, got {value!r} ({exc})") from None
    return f"[{address}]" if address.version == 6 else str(address)
