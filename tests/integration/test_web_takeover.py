"""`iejtui web` cannot be taken over by another user of the box (issue #14, items 6 and 7).

The attack, as it was done: the victim serves the dashboard off loopback and signs in with
the printed URL; another user runs a "cookie logger" (an aiohttp server that records every
Cookie header) on another port of the same host, and the victim's browser (real Chromium)
visits it. Browsers send a host's cookies to every port of it, so the logger used to receive
the token and drive a live dashboard as the victim. Now the session cookie is scoped to a
random path prefix: the logger receives no iejtui cookie at all (a control cookie set for
the host shows that it would have received one with the old scheme). The URL token works
once; forged ids and a session of a stopped server are refused. Over TLS the same holds,
with a Secure cookie. On loopback, another uid hammering the page and the websocket gets
only 403s, and the server logs no traceback.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time

import pytest

from helpers import free_port, wait_for
from test_web_browser import (  # noqa: F401  (fixtures: browser, seeded)
    CAPTURE_TERMINAL, _get, _non_loopback_ip, browser, dashboard_shown, seeded, stop_server, wait_screen,
    web_server, ws_status, WebServer,
)
from users import ATTACKER, need_root, popen_as, user_env, user_python

pytestmark = pytest.mark.integration

COOKIE_LOGGER = r"""
import json, sys
from aiohttp import web

async def record(request):
    print(json.dumps({"path": request.path_qs, "cookie": request.headers.get("Cookie", "")}), flush=True)
    return web.Response(text="<html><body>another user's page</body></html>", content_type="text/html")

app = web.Application()
app.router.add_route("*", "/{tail:.*}", record)
print("listening", flush=True)
web.run_app(app, host="0.0.0.0", port=int(sys.argv[1]), print=None, access_log=None)
"""


class CookieLogger:
    """The attacker's server, run as another uid; ``seen`` holds every request it got."""

    def __init__(self, scratch):
        self.port = free_port()
        self.proc = popen_as(ATTACKER, [user_python(), "-c", COOKIE_LOGGER, str(self.port)],
                             env=user_env(ATTACKER, scratch / "attacker"), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, cwd="/")
        self.seen: list[dict] = []
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        wait_for(self._up, 60, what="the cookie logger")

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.startswith("{"):
                self.seen.append(json.loads(line))

    def _up(self) -> bool:
        assert self.proc.poll() is None, self.lines
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def _host() -> str:
    """The box's address as a remote browser would use it (loopback when it has no other)."""
    return _non_loopback_ip() or "127.0.0.1"


def test_a_cookie_logger_on_another_port_gets_nothing(seeded, browser, scratch):
    need_root()
    host = _host()
    logger = CookieLogger(scratch)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(CAPTURE_TERMINAL)
    try:
        with web_server(seeded, "--host", "0.0.0.0", "--port", "0") as srv:
            port, prefix, token = srv.port, srv.prefix, srv.token
            # a cookie for the host, as any page of the host may set: it reaches every port
            context.add_cookies([{"name": "control", "value": "1", "url": f"http://{host}:{port}/"}])
            page = context.new_page()
            page.goto(f"http://{host}:{port}{prefix}/?token={token}")
            wait_screen(page, dashboard_shown, 120, "the victim's dashboard")
            (session,) = [c for c in context.cookies() if c["name"] == "iejtui_session"]
            assert session["path"] == f"{prefix}/" and session["httpOnly"] and session["sameSite"] == "Strict"
            # the victim's browser visits the other user's pages on the same host
            other = context.new_page()
            for path in ("/", "/ws", "/static/js/textual.js", "/download/x", "/favicon.ico"):
                assert other.goto(f"http://{host}:{logger.port}{path}").status == 200
            other.evaluate("fetch('/probe', {credentials: 'include'}).then(r => r.text())")
            wait_for(lambda: any(s["path"] == "/probe" for s in logger.seen), 30, what="the logger's probe")
            assert len(logger.seen) >= 6
            for s in logger.seen:
                assert "control=1" in s["cookie"], s  # the browser does send this host's cookies there
                assert "iejtui" not in s["cookie"] and session["value"] not in s["cookie"], s
            assert session["value"] not in "".join(logger.lines) and token not in "".join(logger.lines)
            # the dashboard is still the victim's, and its own cookie still works for its owner
            wait_screen(page, dashboard_shown, 30, "the dashboard, still live")
            owner = {"Cookie": f"iejtui_session={session['value']}"}
            assert _get(port, f"{prefix}/static/js/textual.js", owner).status == 200
            # the URL token, replayed (from history, a shoulder, a log): refused, no cookie given
            r = _get(port, f"{prefix}/?token={token}")
            assert r.status == 401 and r.getheader("Set-Cookie") is None
            # forged session ids: refused
            for forged in ("x" * 43, session["value"][:-1] + ("A" if session["value"][-1] != "A" else "B"), token):
                assert _get(port, f"{prefix}/", {"Cookie": f"iejtui_session={forged}"}).status == 401
            assert ws_status(port, {"Cookie": "iejtui_session=" + "x" * 43}, path=f"{prefix}/ws") == 401
        # the server stops: every session is gone; a restarted server (same port) knows none of
        # them, under the old prefix or its new one
        with web_server(seeded, "--host", "0.0.0.0", "--port", str(port)) as srv2:
            assert srv2.prefix != prefix
            for p in (prefix, srv2.prefix):
                assert _get(port, f"{p}/", owner).status == 401
            assert page.goto(f"http://{host}:{port}{prefix}/").status == 401
            assert ws_status(port, owner, path=f"{srv2.prefix}/ws") == 401
            assert not srv2.dashboards()
    finally:
        context.close()
        logger.stop()


HAMMER = r"""
import base64, collections, http.client, json, os, socket, sys
from concurrent.futures import ThreadPoolExecutor
port = int(sys.argv[1])
UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}

def one(i):
    path = "/ws?width=80&height=24" if i % 2 else "/"
    headers = dict(UPGRADE, **{"Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode()}) if i % 2 else {}
    if i % 5 == 4:  # send and hang up at once: the server sees a socket its owner already closed
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
                  + b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items()) + b"\r\n")
        s.close()
        return "hung up"
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path, headers=headers)
    r = c.getresponse()
    r.read()
    c.close()
    return f"{path.split('?')[0]} {r.status}"

with ThreadPoolExecutor(8) as pool:
    print(json.dumps(collections.Counter(pool.map(one, range(200)))))
"""


def test_another_user_hammering_the_loopback_server_gets_only_403s(seeded, scratch):
    need_root()
    with web_server(seeded, "--port", "0") as srv:
        port = srv.port
        attacker = popen_as(ATTACKER, [user_python(), "-c", HAMMER, str(port)],
                            env=user_env(ATTACKER, scratch / "attacker"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd="/")
        # meanwhile its owner gets in
        assert _get(port, "/").status == 200
        out, err = attacker.communicate(timeout=180)
        assert attacker.returncode == 0, err
        counts = json.loads(out)
        assert counts == {"/ 403": 80, "/ws 403": 80, "hung up": 40}, counts
        assert not srv.dashboards()
        # the hung-up requests were answered too (refused, not served to "uid 0")
        wait_for(lambda: sum("refused GET" in ln for ln in srv.err) >= 200, 30, what="200 refusals logged")
    log = srv.output()
    assert "Traceback" not in log and "Error" not in log, log
    assert "browser session from" not in log  # no dashboard ever started for the attacker
    refusals = [ln for ln in log.splitlines() if "refused GET" in ln]
    assert len(refusals) == 200
    assert all(re.search(r"not uid 61002|cannot tell which user", ln) for ln in refusals), refusals[:5]


def _self_signed(tmp_path):
    if not __import__("shutil").which("openssl"):
        pytest.fail("needs /usr/bin/openssl to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def test_tls(seeded, browser, tmp_path):
    """--certfile/--keyfile: https and wss, a Secure cookie; plain HTTP gets nothing."""
    cert, key = _self_signed(tmp_path)
    with web_server(seeded, "--host", "0.0.0.0", "--port", "0", "--certfile", str(cert), "--keyfile", str(key)) as srv:
        assert srv.url.startswith("https://") and srv.prefix
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:  # plain HTTP: no page
            s.sendall(f"GET {srv.prefix}/?token={srv.token} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            try:
                answer = s.recv(4096)
            except ConnectionResetError:
                answer = b""
            assert b"200 OK" not in answer
        context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 800})
        context.add_init_script(CAPTURE_TERMINAL)
        try:
            page = context.new_page()
            page.goto(f"https://127.0.0.1:{srv.port}{srv.prefix}/?token={srv.token}")
            wait_screen(page, dashboard_shown, 120, "the dashboard over TLS")  # its websocket is wss
            (c,) = context.cookies()
            assert c["secure"] and c["httpOnly"] and c["path"] == f"{srv.prefix}/"
            assert page.url == f"https://127.0.0.1:{srv.port}{srv.prefix}/"
        finally:
            context.close()
