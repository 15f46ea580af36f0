"""`iejtui web` in a real browser: Debian's headless Chromium, driven by Playwright, opens the
page, waits for the dashboard, presses `r` and reads the runs of a seeded journal from the
page's terminal buffer (xterm.js); screenshots land in tests/artifacts/ (or
$IEJTUI_ARTIFACTS). A day log and its export made from the browser land in the journal. On a non-loopback address every request without a session is refused;
the one-time token URL (under a random path) gives the browser the dashboard and a session
cookie scoped to that path; the token leaves the address bar, and neither it nor the
session reaches the logs or the journal's files (the takeover itself: test_web_takeover). Ctrl+C on `iejtui web` ends every browser session's dashboard.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import psutil
import pytest

from helpers import cli, free_port, wait_for
from iejtui.store.writer import Writer

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("IEJTUI_ARTIFACTS") or ROOT / "tests" / "artifacts")

# The page keeps its xterm.js Terminal in a closure. Before textual.js runs, a setter for
# `terminal` on Object.prototype catches the first object assigned as `.terminal` that has a
# buffer (textual.js's `this.terminal = new Terminal(...)`), stores it as an own property as
# usual, and exposes it as window.__xterm; __screen() is the visible buffer as text.
CAPTURE_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  get() { return undefined; },
  set(value) {
    Object.defineProperty(this, "terminal", {value, writable: true, configurable: true, enumerable: true});
    if (value && value.buffer && value.buffer.active && !window.__xterm) window.__xterm = value;
  },
});
window.__screen = () => {
  const t = window.__xterm;
  if (!t) return "";
  const b = t.buffer.active, rows = [];
  for (let y = 0; y < t.rows; y++) {
    const line = b.getLine(b.viewportY + y);
    rows.push(line ? line.translateToString(true) : "");
  }
  return rows.join("\\n");
};
"""


# ---- the server, as a user starts it -------------------------------------------------------------
class WebServer:
    """`iejtui web ARGS` as a subprocess; its stdout and stderr are collected by threads."""

    def __init__(self, journal: Path, *args: str):
        env = {**os.environ}
        env.pop("IEJTUI_JOURNAL", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "iejtui.cli", "--journal", str(journal), "web", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                     start_new_session=True)
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [threading.Thread(target=self._drain, args=(f, buf), daemon=True)
                         for f, buf in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for t in self._readers:
            t.start()

    @staticmethod
    def _drain(f, buf: list[str]) -> None:
        for line in f:
            buf.append(line.rstrip("\n"))

    def wait_ready(self, timeout: float = 120) -> None:
        """Until the banner's last line ('Ctrl+C ...'): then the URL to open is known."""
        deadline = time.monotonic() + timeout
        while not any(ln.strip().startswith("Ctrl+C") for ln in self.out):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"iejtui web did not start: {self.out + self.err!r}, exit {self.proc.poll()}")
            time.sleep(0.1)
        (self.url,) = [ln.split("open ", 1)[1] for ln in self.out if ln.strip().startswith("open ")]
        self.port = int(re.search(r" on \S+:(\d+)$", self.out[0]).group(1))
        self.token = self.url.split("?token=", 1)[1] if "?token=" in self.url else None
        # off loopback everything lives under a random path prefix: /<prefix>/?token=...
        self.prefix = re.match(r"https?://[^/]+(/[^?]*)/", self.url).group(1) if self.token else ""

    def next_url(self, timeout: float = 30) -> str:
        """The next browser's one-time URL, printed once a token has been used."""
        deadline = time.monotonic() + timeout
        while True:
            urls = [ln.split("the next browser opens ", 1)[1] for ln in list(self.out) if "the next browser opens " in ln]
            if urls:
                return urls[-1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no next URL printed: {self.out!r}")
            time.sleep(0.1)

    def output(self) -> str:
        """Everything it printed (once it has stopped)."""
        for t in self._readers:
            t.join(10)
        return "\n".join(self.out + self.err)

    def dashboards(self) -> list[psutil.Process]:
        """The dashboard processes the server spawned for browser sessions."""
        try:
            kids = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        out = []
        for k in kids:
            try:
                if "iejtui.cli.web_session" in k.cmdline():
                    out.append(k)
            except psutil.NoSuchProcess:
                pass
        return out


@contextmanager
def web_server(journal: Path, *args: str):
    srv = WebServer(journal, *args)
    try:
        srv.wait_ready()
        yield srv
    finally:
        stop_server(srv.proc)


def stop_server(proc: subprocess.Popen) -> None:
    """Ctrl+C, then SIGKILL to its whole process group if it lingers (it never should)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait(10)


@contextmanager
def port_forward(target_port: int):
    """What `ssh -L LOCAL:127.0.0.1:TARGET box` does for the browser: another local port, bytes
    relayed to the server by a process of this user. Yields its port and what it relayed."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    state: dict = {}
    fwd = SimpleNamespace(port=0, requests=[])  # the first line of each relayed connection

    async def pipe(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def relay(client_r, client_w):
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
        first = await client_r.read(65536)
        fwd.requests.append(first.split(b"\r\n", 1)[0].decode(errors="replace"))
        server_w.write(first)
        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))

    async def main():
        state["server"] = await asyncio.start_server(relay, "127.0.0.1", 0)
        fwd.port = state["server"].sockets[0].getsockname()[1]
        started.set()

    def run():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(30)
    try:
        yield fwd
    finally:
        async def close():
            state["server"].close()
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()
        asyncio.run_coroutine_threadsafe(close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


# ---- the browser -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} is not installed (.ci/run installs Debian's chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(CAPTURE_TERMINAL)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


def screen(page) -> str:
    return page.evaluate("window.__screen ? window.__screen() : ''")


def wait_screen(page, predicate, timeout: float, what: str) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = screen(page)
        if predicate(text):
            return text
        page.wait_for_timeout(200)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; the page shows:\n{text}")


def dashboard_shown(text: str) -> bool:
    return "Dashboard" in text and "Runs" in text and "Engines" in text


# ---- journals ------------------------------------------------------------------------------------------
RUN_NAMES = ("webby-llama", "webby-sweep")


@pytest.fixture
def seeded(journal):
    """The `journal` fixture (its service is stopped afterwards) with two finished runs."""
    w = Writer(journal / "journal.db")
    now = time.time()
    eng = w.create_run(kind="engine", name=RUN_NAMES[0], engine_kind="vllm", status="stopped", owned=1,
                       argv=["vllm", "serve", "/models/x"], started_at=now - 3600, ready_at=now - 3550,
                       ended_at=now - 600, tags=["browser"])
    w.create_run(kind="bench", name=RUN_NAMES[1], status="stopped", parent_id=eng, started_at=now - 1800,
                 ended_at=now - 1700, tags=["browser"], summary={"output_throughput": 321.0})
    w.flush()
    w.close()
    return journal


# ---- the tests ------------------------------------------------------------------------------------------
def test_dashboard_in_a_real_browser_shows_the_runs(seeded, page):
    """Through a port forward: open the page, wait for the dashboard, `r`, read the runs; then a
    day log and its export written from the browser land in the journal."""
    with web_server(seeded, "--port", "0") as srv, port_forward(srv.port) as fwd:
        assert srv.token is None and srv.url == f"http://127.0.0.1:{srv.port}/"
        # the browser sits behind a port forward to another port, as on a laptop over SSH
        page.goto(f"http://127.0.0.1:{fwd.port}/")
        wait_screen(page, dashboard_shown, 120, "the dashboard")
        # the page's websocket and assets went through the forward too (not to the server's own port)
        assert any(r.startswith("GET /ws?") for r in fwd.requests), fwd.requests
        assert any(r.startswith("GET /static/js/textual.js") for r in fwd.requests), fwd.requests
        # one dashboard process for this tab, on this journal
        (dash,) = srv.dashboards()
        cmd = dash.cmdline()
        assert cmd[cmd.index("--journal") + 1] == str(seeded)
        assert dash.cwd() == os.getcwd()  # where `iejtui web` was started, as for a terminal dashboard
        page.click("#terminal")
        page.keyboard.press("r")
        text = wait_screen(page, lambda t: all(n in t for n in RUN_NAMES), 60, "the runs screen's rows")
        assert "iejtui — runs" in text
        rows = [ln for ln in text.splitlines() if any(n in ln for n in RUN_NAMES)]
        assert any("engine" in r and "stopped" in r and "webby-llama" in r for r in rows), rows
        assert any("bench" in r and "webby-sweep" in r for r in rows), rows
        # the keys go on working: enter opens the run under the cursor (the newest), esc comes back
        page.keyboard.press("Enter")
        wait_screen(page, lambda t: "Whole run" in t and "webby-llama" not in t, 60, "the run's history view")
        page.keyboard.press("Escape")
        wait_screen(page, lambda t: all(n in t for n in RUN_NAMES), 30, "the runs screen again")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "web-runs.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
        # what the dashboard writes lands in the journal as from a terminal: a day log from the
        # selected run (space on the Runs screen, n on the Journal screen), then its export (x)
        page.keyboard.press("Space")
        wait_screen(page, lambda t: "1 selected: r2" in t, 30, "the run's selection")
        page.keyboard.press("j")
        wait_screen(page, lambda t: "iejtui — journal" in t, 30, "the journal screen")
        page.keyboard.press("n")
        wait_screen(page, lambda t: "New day log" in t, 30, "the new-day dialog")
        page.keyboard.type("browser day")
        wait_screen(page, lambda t: "browser day" in t, 30, "the topic in the dialog")
        page.keyboard.press("Enter")
        log = seeded / "days" / "day-001-browser-day" / "LOG.md"
        wait_for(lambda: log.exists() and "webby-sweep" in log.read_text(), 60, what=f"{log} from the browser")
        wait_screen(page, lambda t: "day-001-browser-day/LOG.md" in t, 30, "the day's notification")
        page.keyboard.press("x")
        wait_screen(page, lambda t: "Export day 001" in t, 30, "the export dialog")
        page.keyboard.press("Enter")
        export = seeded / "exports" / "day-001-browser-day.md"
        wait_for(lambda: export.exists() and "webby-sweep" in export.read_text(), 60, what=f"{export}")
        wait_screen(page, lambda t: "exporting day 001" in t and "Export day 001" not in t, 30, "the export's note")
        page.screenshot(path=str(ARTIFACTS / "web-journal.png"))
        # closing the tab ends its dashboard process
        page.close()
        dash.wait(30)
        assert not srv.dashboards()


def _get(port: int, path: str, headers: dict | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    resp.body = resp.read()
    conn.close()
    return resp


async def _ws_status(port: int, headers: dict | None = None, path: str = "/ws") -> int:
    """The websocket handshake's answer (101 once connected; closed right away)."""
    async with aiohttp.ClientSession() as s:
        try:
            async with s.ws_connect(f"http://127.0.0.1:{port}{path}?width=80&height=24", headers=headers or {}) as ws:
                await ws.close()
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


def _get_as(uid: int, port: int) -> int:
    """GET / from a process running as ``uid`` (needs root): its HTTP status."""
    code = (f"import urllib.request, urllib.error\n"
            f"try:\n    print(urllib.request.urlopen('http://127.0.0.1:{port}/', timeout=30).status)\n"
            f"except urllib.error.HTTPError as e:\n    print(e.code)\n")
    p = subprocess.run(["/usr/bin/python3", "-c", code], user=uid, group=uid, capture_output=True, text=True,
                       timeout=60, cwd="/")
    assert p.returncode == 0, p.stderr
    return int(p.stdout)


def ws_status(port: int, headers: dict | None = None, path: str = "/ws") -> int:
    """asyncio.run on its own thread: Playwright's sync API holds an event loop on this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _ws_status(port, headers, path)).result(60)


def _non_loopback_ip() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            ip = s.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


def test_non_loopback_bind_needs_the_token(seeded, page):
    with web_server(seeded, "--host", "0.0.0.0", "--port", "0") as srv:
        token, port, prefix = srv.token, srv.port, srv.prefix
        assert token and len(token) >= 32 and len(prefix) >= 30
        assert srv.url == f"http://{socket.gethostname()}:{port}{prefix}/?token={token}"
        # without a session nothing is served, under the prefix or not: page, assets, websocket,
        # downloads; no answer names the prefix or the token
        for path in ("/", f"/?token={token}", "/static/js/textual.js", "/download/x", f"{prefix}/",
                     f"{prefix}/static/js/textual.js", f"{prefix}/download/x", f"{prefix}/?token={token[:-1]}x"):
            r = _get(port, path)
            assert r.status == 401, (path, r.status)
            assert token.encode() not in r.body and prefix[1:].encode() not in r.body
        assert _get(port, f"{prefix}/", {"Cookie": "iejtui_session=nope"}).status == 401
        assert _get(port, f"{prefix}/", {"Cookie": f"iejtui_session={token}"}).status == 401  # the token is no session
        assert ws_status(port, path=f"{prefix}/ws") == 401
        assert not srv.dashboards()
        # the token in the URL: the page, with a session cookie (not the token) scoped to the prefix
        r = _get(port, f"{prefix}/?token={token}")
        assert r.status == 200
        cookie = r.getheader("Set-Cookie")
        session = re.match(r"iejtui_session=([A-Za-z0-9_-]{43});", cookie).group(1)
        assert token not in cookie
        assert f"Path={prefix}/" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back
        assert _get(port, f"{prefix}/static/js/textual.js", {"Cookie": f"iejtui_session={session}"}).status == 200
        assert _get(port, f"{prefix}/?token={token}").status == 401  # used once: never again
        # through the machine's own non-loopback address too, as a remote browser would come
        ip = _non_loopback_ip()
        if ip:
            conn = http.client.HTTPConnection(ip, port, timeout=30)
            conn.request("GET", f"{prefix}/")
            assert conn.getresponse().status == 401
            conn.close()
        # the real browser, with the next URL the server printed: the dashboard comes up, the
        # address bar no longer shows the token
        url = srv.next_url()
        next_token = url.split("?token=", 1)[1]
        assert next_token != token and url.startswith(f"http://{socket.gethostname()}:{port}{prefix}/?token=")
        page.goto(f"http://127.0.0.1:{port}{prefix}/?token={next_token}")
        wait_screen(page, dashboard_shown, 120, "the dashboard behind the token")
        assert "token" not in page.url and page.url.endswith(f"{prefix}/")
        page.click("#terminal")
        page.keyboard.press("r")
        wait_screen(page, lambda t: all(n in t for n in RUN_NAMES), 60, "the runs screen's rows")
        (c,) = page.context.cookies()
        assert c["httpOnly"] is True and c["path"] == f"{prefix}/" and c["value"] not in (token, next_token, session)
    # printed once (the URL to open), never logged, never written into the journal
    out = srv.output()
    assert out.count(token) == 1 and out.count(next_token) == 1, out
    assert session not in out and c["value"] not in out
    assert "refused GET /static/js/textual.js" in out  # refusals are logged, without queries
    assert "refused GET /…/static/js/textual.js" in out  # ... with the prefix masked
    assert [ln for ln in out.splitlines() if prefix in ln and "open http" not in ln and "opens http" not in ln] == []
    for f in seeded.rglob("*"):
        if f.is_file() and not f.is_socket():
            data = f.read_bytes()
            for secret in (token, next_token, session, c["value"], prefix):
                assert secret.encode() not in data, f


def test_loopback_refuses_other_sites_and_users(seeded):
    """No token on loopback, so nobody else may reach it: foreign Host names (DNS rebinding),
    websockets opened by another origin's page and other users of the box are refused."""
    with web_server(seeded, "--port", "0") as srv:
        port = srv.port
        assert _get(port, "/").status == 200
        assert _get(port, "/", {"Host": f"localhost:{port}"}).status == 200
        assert _get(port, "/", {"Host": f"rebind.example:{port}"}).status == 403
        assert ws_status(port, {"Origin": "http://evil.example"}) == 403
        # another user of the box (a loopback port is open to all of them)
        if os.geteuid() == 0:
            assert _get_as(65534, port) == 403

        assert not srv.dashboards()
        # the page's websocket URL follows the address the browser used (an SSH forward's port)
        body = _get(port, "/", {"Host": "localhost:9999"}).body.decode()
        assert 'data-session-websocket-url="ws://localhost:9999/ws"' in body
        assert "http://localhost:9999/static/js/textual.js" in body
        assert "fonts.googleapis.com" not in body


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"])
def test_stopping_the_server_ends_the_browser_sessions(seeded, page, sig):
    """Ctrl+C closes every session (each dashboard quits); a killed server leaves none behind."""
    with web_server(seeded, "--port", "0") as srv:
        page.goto(srv.url)
        wait_screen(page, dashboard_shown, 120, "the dashboard")
        dashboards = srv.dashboards()
        assert len(dashboards) == 1
        srv.proc.send_signal(sig)
        assert srv.proc.wait(60) == (0 if sig == signal.SIGINT else -signal.SIGKILL)
        gone, alive = psutil.wait_procs(dashboards, timeout=30)
        assert not alive, [p.pid for p in alive]
        page.wait_for_selector("body.-closed", timeout=30_000)  # the page says "Session ended"


def test_cli_errors(seeded, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        p = cli(seeded, "web", "--port", str(port), timeout=60)
    assert p.returncode == 2
    assert p.stderr.strip() == f"iejtui: cannot listen on 127.0.0.1:{port}: the port is in use (pick another with --port)"
    p = cli(seeded, "web", "--host", "192.0.2.77", "--port", str(free_port()), timeout=60)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "no such address on this machine" in p.stderr
    p = cli(tmp_path / "nowhere", "web", timeout=60)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "is not a journal yet" in p.stderr
    # TLS files: missing, not a certificate, a key without its certificate: one line each, exit 2
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    for args, says in ((["--certfile", str(tmp_path / "none.pem")], f"cannot read --certfile {tmp_path / 'none.pem'}: no such file"),
                       (["--certfile", str(junk)], f"cannot use {junk} for TLS: not a PEM certificate"),
                       (["--certfile", str(junk), "--keyfile", str(junk)], f"cannot use {junk} and {junk} for TLS"),
                       (["--keyfile", str(junk)], "--keyfile needs --certfile")):
        p = cli(seeded, "web", "--port", str(free_port()), *args, timeout=60)
        assert p.returncode == 2 and p.stderr.count("\n") == 1 and says in p.stderr, (args, p.stderr)
        assert p.stderr.startswith("iejtui: ") and "Traceback" not in p.stderr
