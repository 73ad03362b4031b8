"""How messages become bytes: the SMTP policy, except that URI list headers are never encoded.

The stdlib folds a header word longer than a line into RFC 2047 encoded words
(``=?utf-8?q?=3Chttps=3A//...?=``). For List-Unsubscribe that is fatal: mail
providers read no URI there, and one-click silently fails for exactly the
readers with a long address or token. These headers are folded only between
their ``<URI>`` elements, as RFC 2369 allows; a line may then run past 78
characters (RFC 5322 allows 998), which is what every large sender does.
"""

from __future__ import annotations

from email.policy import SMTP, EmailPolicy

URI_HEADERS = frozenset({"list-unsubscribe", "list-unsubscribe-post"})


class MailPolicy(EmailPolicy):
    def fold(self, name: str, value) -> str:
        if name.lower() in URI_HEADERS and str(value).isascii():
            return self._fold_between_uris(name, str(value))
        return super().fold(name, value)

    def fold_binary(self, name: str, value) -> bytes:
        if name.lower() in URI_HEADERS and str(value).isascii():
            return self._fold_between_uris(name, str(value)).encode("ascii")
        return super().fold_binary(name, value)

    def _fold_between_uris(self, name: str, value: str) -> str:
        parts = [part.strip() for part in value.split(">,")]
        joined = ("," + self.linesep + " ").join(
            part if index == len(parts) - 1 else part + ">" for index, part in enumerate(parts)
        )
        return f"{name}: {joined}{self.linesep}"


MAIL = MailPolicy(linesep=SMTP.linesep)
