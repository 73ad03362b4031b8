"""Cross-site request forgery: a form token tied to a cookie, and the browser's own word.

A form page sets a random cookie and puts an HMAC of it in a hidden field; a
POST must carry both, and must not say it comes from another site (``Origin``
or ``Sec-Fetch-Site``). Another site can make a browser post, but can neither
read the cookie nor compute the field. The one-click unsubscribe is exempt
by design (RFC 8058: the mail provider posts it, with no cookie or form).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence

COOKIE = "feeds_csrf"
FIELD = "csrf"


class Csrf:
    def __init__(self, secrets_: Sequence[str], *, origin: str, https: bool, path: str):
        self.keys = [hashlib.sha256(b"feeds csrf\0" + s.encode()).digest() for s in secrets_]
        self.origin = origin
        self.https = https
        self.path = path or "/"

    def new_cookie(self) -> str:
        return secrets.token_urlsafe(18)

    def form_token(self, cookie: str) -> str:
        return self._mac(self.keys[0], cookie)

    def cookie_header(self, cookie: str) -> str:
        """The Set-Cookie value: HttpOnly, SameSite=Lax, Secure when the site is https."""
        secure = "; Secure" if self.https else ""
        return f"{COOKIE}={cookie}; Path={self.path}; HttpOnly; SameSite=Lax{secure}"

    def same_site(self, headers: Mapping[str, str]) -> bool:
        """False when the browser says the request comes from another site."""
        fetch_site = headers.get("sec-fetch-site")
        if fetch_site is not None and fetch_site not in ("same-origin", "none"):
            return False
        # "null" is what a browser sends for its own form under Referrer-Policy: no-referrer,
        # so it proves nothing either way; the cookie-bound token still has to match.
        origin = headers.get("origin")
        return origin in (None, "null", self.origin)

    def valid(self, headers: Mapping[str, str], cookie: str | None, token: str | None) -> bool:
        if not self.same_site(headers) or not cookie or not token:
            return False
        return any(hmac.compare_digest(self._mac(key, cookie), token) for key in self.keys)

    @staticmethod
    def _mac(key: bytes, cookie: str) -> str:
        return hmac.new(key, cookie.encode(), hashlib.sha256).hexdigest()
