"""Off-loopback `iejtui web` sessions: the one-time token, session ids, expiry, revocation."""
from __future__ import annotations

from iejtui.ui.web_access import IDLE, Access


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_token_opens_one_session_once_and_a_new_token_follows():
    access = Access()
    first = access.token
    assert len(access.prefix) > 30 and len(first) >= 43
    assert access.redeem(first[:-1] + ("A" if first[-1] != "A" else "B")) is None  # wrong
    assert access.token == first  # a wrong guess does not use it up
    sid = access.redeem(first)
    assert sid and sid != first and len(sid) >= 43
    assert access.redeem(first) is None  # single use
    assert access.token != first  # the next browser's token
    assert access.valid(sid) and len(access) == 1
    other = access.redeem(access.token)
    assert other and other != sid and len(access) == 2


def test_forged_expired_and_revoked_sessions_are_refused():
    clock = Clock()
    access = Access(clock=clock)
    sid = access.redeem(access.token)
    for forged in ("", "x", sid[:-1], sid + "x", access.token, access.prefix):
        assert not access.valid(forged), forged
    clock.now += IDLE - 1
    assert access.valid(sid)  # sliding: each use restarts the idle clock
    clock.now += IDLE - 1
    assert access.valid(sid)
    clock.now += IDLE + 1
    assert not access.valid(sid) and len(access) == 0  # expired: gone for good
    clock.now += 1
    assert not access.valid(sid)
    sid2 = access.redeem(access.token)
    access.revoke_all()
    assert not access.valid(sid2)


def test_only_paths_under_the_prefix_are_inside():
    access = Access()
    p = access.prefix
    assert access.inside(f"{p}/") and access.inside(f"{p}/ws") and access.inside(f"{p}/static/js/textual.js")
    for path in ("/", "/ws", p, f"{p}x/", f"{p[:-1]}/", "/static/js/textual.js", f"/x{p}/"):
        assert not access.inside(path), path
    assert Access().prefix != p
