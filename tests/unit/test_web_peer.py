"""iejtui web's peer lookup: which uid owns the client end of a loopback TCP connection."""
from __future__ import annotations

import os
import socket

import pytest

from iejtui.ui.peer import peer_uid


@pytest.mark.parametrize("family,host", [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")])
def test_a_real_connection_belongs_to_this_user(family, host):
    try:
        srv = socket.socket(family)
        srv.bind((host, 0))
    except OSError:
        pytest.skip(f"no {host} here")
    with srv:
        srv.listen()
        with socket.create_connection(srv.getsockname()[:2]):
            conn, _ = srv.accept()
            with conn:
                assert peer_uid(conn.getpeername(), conn.getsockname()) == os.getuid()
                # a peer that is not connected to this socket is nobody's
                assert peer_uid((host, 1), conn.getsockname()) is None


def test_table_parsing(tmp_path):
    """IPv4 words in host order, IPv6 and IPv4-mapped addresses, the uid column."""
    t4 = tmp_path / "tcp"
    t4.write_text("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
                  "   0: 0100007F:D431 0100007F:223D 01 00000000:00000000 00:00000000 00000000  1234        0 1 1\n")
    t6 = tmp_path / "tcp6"
    t6.write_text("  sl  local_address                         remote_address                        st x\n"
                  "   0: 0000000000000000FFFF00000100007F:D432 0000000000000000FFFF00000100007F:223D "
                  "01 00000000:00000000 00:00000000 00000000  4321        0 2 1\n"
                  "   1: 00000000000000000000000001000000:D433 00000000000000000000000001000000:223D "
                  "01 00000000:00000000 00:00000000 00000000  777        0 3 1\n")
    tables = (t4, t6)
    assert peer_uid(("127.0.0.1", 0xD431), ("127.0.0.1", 8765), tables) == 1234
    assert peer_uid(("::ffff:127.0.0.1", 0xD432, 0, 0), ("::ffff:127.0.0.1", 8765, 0, 0), tables) == 4321
    assert peer_uid(("::1", 0xD433, 0, 0), ("::1", 8765, 0, 0), tables) == 777
    assert peer_uid(("127.0.0.1", 0xD431), ("127.0.0.1", 8766), tables) is None
    assert peer_uid(("127.0.0.1", 1), ("127.0.0.1", 8765), (tmp_path / "missing",)) is None
    # a socket its owner closed (orphaned, inode 0, uid shown as 0) is nobody's
    t4.write_text(t4.read_text() + "   1: 0100007F:D434 0100007F:223D 05 00000000:00000000 03:00000100 00000000     "
                                   "0        0 0 3 0\n")
    assert peer_uid(("127.0.0.1", 0xD434), ("127.0.0.1", 8765), tables) is None


# ---- the exact lookup (NETLINK sock_diag), other users, fail closed ------------------------------
import subprocess  # noqa: E402

from iejtui.ui import peer  # noqa: E402
from users import ATTACKER, need_root, popen_as, user_python  # noqa: E402


def _listener():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(30)
    return srv


def test_netlink_and_proc_agree_on_a_real_connection():
    """Both ways name this user for a live connection; the netlink request names no other."""
    with _listener() as srv, socket.create_connection(srv.getsockname()) as client:
        conn, _ = srv.accept()
        with conn:
            c, s = peer._norm(conn.getpeername()), peer._norm(conn.getsockname())
            assert peer.netlink_uid(c, s) == os.getuid()  # netlink works here: it is what serves
            assert peer.table_uid(c, s, peer.TABLES) == os.getuid()
            assert peer.netlink_uid((c[0], client.getsockname()[1] ^ 1), s) is None
            assert peer.netlink_uid(s, c) == os.getuid()  # the server's own end: this process


def _connect_as(uid: int, port: int, then: str) -> subprocess.Popen:
    """A process of ``uid`` connects to 127.0.0.1:port; ``then`` is 'hold' or 'close'."""
    code = ("import socket, sys, time\n"
            f"s = socket.create_connection(('127.0.0.1', {port}))\n"
            "print(s.getsockname()[1], flush=True)\n"
            f"if {then!r} == 'close':\n    s.close()\n"
            "sys.stdin.read()\n")
    return popen_as(uid, [user_python(), "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                    cwd="/")


def test_another_users_connection_is_theirs():
    need_root()
    with _listener() as srv:
        p = _connect_as(ATTACKER, srv.getsockname()[1], "hold")
        try:
            conn, _ = srv.accept()
            with conn:
                assert peer.peer_uid(conn.getpeername(), conn.getsockname()) == ATTACKER
                c, s = peer._norm(conn.getpeername()), peer._norm(conn.getsockname())
                assert peer.table_uid(c, s, peer.TABLES) == ATTACKER  # the fallback says the same
        finally:
            p.communicate("", timeout=30)


def test_a_closed_client_socket_is_nobodys_not_root():
    """Once its owner closes it, the client's socket is orphaned (FIN_WAIT2, then TIME_WAIT) and
    the kernel reports it as uid 0: that must read as unknown (refused), never as root (a root
    server's own uid)."""
    need_root()
    with _listener() as srv:
        p = _connect_as(ATTACKER, srv.getsockname()[1], "close")
        try:
            conn, _ = srv.accept()
            with conn:
                p.stdout.readline()
                assert conn.recv(1) == b""  # the attacker's FIN has arrived
                assert peer.peer_uid(conn.getpeername(), conn.getsockname()) is None
                c, s = peer._norm(conn.getpeername()), peer._norm(conn.getsockname())
                assert peer.table_uid(c, s, peer.TABLES) is None
        finally:
            p.communicate("", timeout=30)


def test_answers_parse():
    """The kernel's three answers: a socket (its uid), no such socket, a refused request."""
    import struct
    hdr = peer._NLMSGHDR
    msg = bytes([socket.AF_INET, 1, 0, 0]) + bytes(48) + struct.pack("=IIIII", 0, 0, 0, 4242, 99)
    assert peer.parse_diag_answer(hdr.pack(hdr.size + len(msg), peer.SOCK_DIAG_BY_FAMILY, 0, 1, 0) + msg) == 4242
    tw = bytes([socket.AF_INET, 6, 0, 0]) + bytes(48) + struct.pack("=IIIII", 0, 0, 0, 0, 0)  # orphaned: inode 0
    assert peer.parse_diag_answer(hdr.pack(hdr.size + len(tw), peer.SOCK_DIAG_BY_FAMILY, 0, 1, 0) + tw) is None
    err = struct.pack("=i", -2) + bytes(16)
    assert peer.parse_diag_answer(hdr.pack(hdr.size + len(err), peer.NLMSG_ERROR, 0, 1, 0) + err) is None
    err = struct.pack("=i", -22) + bytes(16)
    with pytest.raises(peer.NetlinkUnavailable):
        peer.parse_diag_answer(hdr.pack(hdr.size + len(err), peer.NLMSG_ERROR, 0, 1, 0) + err)
    req = peer.diag_request(peer._norm(("127.0.0.1", 40000)), peer._norm(("127.0.0.1", 8765)))
    assert len(req) == 16 + 8 + 48 and req[16] == socket.AF_INET and req[17] == socket.IPPROTO_TCP
    assert req[24:28] == struct.pack("!HH", 40000, 8765) and req[28:32] == bytes([127, 0, 0, 1])


def test_the_loopback_server_refuses_a_peer_nobody_can_name(tmp_path, caplog):
    """Fail closed: when the lookup cannot say who connects (a fault this box cannot provoke:
    the lookup is replaced), the real loopback server answers 403 with one log line."""
    import asyncio
    import logging

    import aiohttp
    from aiohttp import web

    from iejtui.paths import JournalPaths
    from iejtui.ui.web import DashboardServer

    async def go() -> list[tuple[int, str]]:
        server = DashboardServer(JournalPaths(tmp_path / "journal"), "127.0.0.1", 0)
        server.peer_uid = lambda peer, local: None
        runner = web.AppRunner(await server._make_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        out = []
        try:
            async with aiohttp.ClientSession() as s:
                for path in ("/", "/ws", "/static/js/textual.js"):
                    async with s.get(f"http://127.0.0.1:{port}{path}") as r:
                        out.append((r.status, await r.text()))
                server.peer_uid = peer_uid  # the real lookup: this user gets in
                async with s.get(f"http://127.0.0.1:{port}/") as r:
                    out.append((r.status, ""))
        finally:
            await runner.cleanup()
        return out

    with caplog.at_level(logging.WARNING, logger="iejtui.web"):
        answers = asyncio.run(go())
    assert [a[0] for a in answers] == [403, 403, 403, 200]
    assert "cannot tell which user this connection comes from" in answers[0][1]
    refusals = [r.getMessage() for r in caplog.records if r.name == "iejtui.web"]
    assert len(refusals) == 3 and all("refused GET" in m and "cannot tell which user" in m for m in refusals)


def test_without_netlink_the_proc_tables_answer(monkeypatch):
    """Where sock_diag is forbidden (a fault this box cannot provoke: netlink is replaced), the
    /proc tables name the same owner; a connection they do not have is nobody's."""
    def forbidden(client, server):
        raise peer.NetlinkUnavailable("EPERM")

    monkeypatch.setattr(peer, "netlink_uid", forbidden)
    with _listener() as srv, socket.create_connection(srv.getsockname()):
        conn, _ = srv.accept()
        with conn:
            assert peer.peer_uid(conn.getpeername(), conn.getsockname()) == os.getuid()
            assert peer.peer_uid(("127.0.0.1", 1), conn.getsockname()) is None
