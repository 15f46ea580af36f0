"""Who may use an ``iejtui web`` that listens off loopback: a one-time URL token, exchanged for
a browser session held by the server, under a path nobody else knows.

Decisions (issue #14: another user's server on another port of the same host must not be
able to take a dashboard over; browsers send a host's cookies to every port of it):
- everything the server answers lives under ``prefix``, ``/`` + 24 random bytes (urlsafe),
  and the session cookie is scoped to it (``Path=/<prefix>/``): a page on another port of the
  host has other paths, so the browser never sends it the cookie;
- the printed token is single use: the first page load that carries it consumes it and gets
  a fresh session id (``secrets.token_urlsafe(32)``), and a new token is minted for the next
  browser (printed on the server's terminal only); a token seen twice is refused;
- sessions exist only in this process's memory (kept by a hash of their id): they expire
  after ``IDLE`` seconds without a request (sliding), and all end when the server exits;
- the cookie never holds the token, and nothing here is logged or written to a file.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

IDLE = 12 * 3600  # a session unused for 12 h needs a new URL from the server's terminal
COOKIE = "iejtui_session"


def _key(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).digest()


class Access:
    """The current one-time token and the live sessions (``clock``: seconds, monotonic)."""

    def __init__(self, idle: float = IDLE, clock: Callable[[], float] = time.monotonic):
        self.prefix = "/" + secrets.token_urlsafe(24)
        self.token = secrets.token_urlsafe(32)
        self.idle = idle
        self.clock = clock
        self._sessions: dict[bytes, float] = {}  # sha256(id) -> last use

    def inside(self, path: str) -> bool:
        """True when ``path`` is under the prefix (compared in constant time)."""
        want = self.prefix + "/"
        return hmac.compare_digest(path[:len(want)].encode("utf-8", "replace"), want.encode())

    def redeem(self, token: str) -> str | None:
        """A new session id for the current token (which is then used up and replaced), or
        None for any other string: a wrong token, or one already redeemed."""
        if not hmac.compare_digest(token.encode("utf-8", "replace"), self.token.encode()):
            return None
        self.token = secrets.token_urlsafe(32)
        self._prune()
        session_id = secrets.token_urlsafe(32)
        self._sessions[_key(session_id)] = self.clock()
        return session_id

    def valid(self, session_id: str) -> bool:
        """True for a live session (its idle clock restarts); False for forged or expired ids."""
        key, now = _key(session_id), self.clock()
        last = self._sessions.get(key)
        if last is None:
            return False
        if now - last > self.idle:
            del self._sessions[key]
            return False
        self._sessions[key] = now
        return True

    def revoke_all(self) -> None:
        """End every session (the server is stopping)."""
        self._sessions.clear()

    def __len__(self) -> int:
        return len(self._sessions)

    def _prune(self) -> None:
        now = self.clock()
        for key in [k for k, last in self._sessions.items() if now - last > self.idle]:
            del self._sessions[key]
