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
