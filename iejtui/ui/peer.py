"""Who is on the other end of a loopback TCP connection: the uid owning the client's socket.

A loopback port is open to every user of a shared box; ``iejtui web`` on loopback serves only
its own user (an SSH port forward connects as that user: sshd's session process owns the
client socket). The client socket is looked up exactly, by its 4-tuple:

- first through the kernel's NETLINK_SOCK_DIAG (what ``ss`` uses): one request naming the
  client's address and port and the server's, one answer carrying that socket's uid, or
  "no such socket";
- only where that socket family is unavailable (not Linux, a sandbox that forbids it), from
  /proc/net/tcp and tcp6 (what identd reads), read a second time when the first read does not
  have the connection (those files are not read atomically: a row may be missed while the
  table changes).

A client socket that its owner closed (orphaned: FIN_WAIT, TIME_WAIT...; the kernel reports
it with inode 0 and uid 0) has no owner any more: it counts as unknown, never as root.

None means nobody could say: callers refuse the connection (fail closed).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
from pathlib import Path

TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
_Addr = ipaddress.IPv4Address | ipaddress.IPv6Address

# linux/netlink.h, linux/sock_diag.h, linux/inet_diag.h
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 1
NLMSG_ERROR = 2
INET_DIAG_NOCOOKIE = 0xFFFFFFFF
_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
# inet_diag_req_v2: family, protocol, ext, pad, states; then inet_diag_sockid:
# sport, dport (big-endian), src[16], dst[16], if, cookie[2]
_REQ = struct.Struct("=BBBBI")
_SOCKID = struct.Struct("!HH16s16s")
_SOCKID_TAIL = struct.Struct("=III")
# inet_diag_msg: family, state, timer, retrans, id (48 bytes), expires, rqueue, wqueue, uid, inode
_MSG_UID_INODE = struct.Struct("=II")
_MSG_UID_OFFSET = 4 + 48 + 12


class NetlinkUnavailable(Exception):
    """This kernel (or sandbox) does not answer sock_diag requests: fall back to /proc."""


def _norm(addr: tuple) -> tuple[_Addr, int]:
    ip = ipaddress.ip_address(addr[0].split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip, int(addr[1])


def diag_request(client: tuple[_Addr, int], server: tuple[_Addr, int], seq: int = 1) -> bytes:
    """The sock_diag request for the TCP socket bound to ``client`` and connected to ``server``.

    The kernel looks the socket up as if a packet came from ``dst`` to ``src``, so ``src`` is
    the client's end: the answer is the client socket, whose uid is who connected."""
    (cip, cport), (sip, sport) = client, server
    family = socket.AF_INET if cip.version == 4 else socket.AF_INET6
    pad = (lambda ip: ip.packed.ljust(16, b"\0"))
    body = (_REQ.pack(family, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF)
            + _SOCKID.pack(cport, sport, pad(cip), pad(sip))
            + _SOCKID_TAIL.pack(0, INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE))
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, seq, 0) + body


def parse_diag_answer(data: bytes) -> int | None:
    """The uid in a sock_diag answer; None when the kernel says there is no such socket.
    Raises NetlinkUnavailable when the kernel refuses the request itself."""
    if len(data) < _NLMSGHDR.size:
        raise NetlinkUnavailable("short netlink answer")
    _length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data)
    if kind == NLMSG_ERROR:
        (code,) = struct.unpack_from("=i", data, _NLMSGHDR.size)
        if -code == errno.ENOENT:
            return None
        raise NetlinkUnavailable(errno.errorcode.get(-code, str(-code)))
    if kind != SOCK_DIAG_BY_FAMILY or len(data) < _NLMSGHDR.size + _MSG_UID_OFFSET + _MSG_UID_INODE.size:
        raise NetlinkUnavailable(f"unexpected netlink answer type {kind}")
    uid, inode = _MSG_UID_INODE.unpack_from(data, _NLMSGHDR.size + _MSG_UID_OFFSET)
    return None if inode == 0 else uid  # inode 0: closed by its owner, nobody's


def netlink_uid(client: tuple[_Addr, int], server: tuple[_Addr, int]) -> int | None:
    """Ask the kernel (NETLINK_SOCK_DIAG) which uid owns the client socket of this connection."""
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as nl:
            nl.settimeout(2)
            nl.sendto(diag_request(client, server), (0, 0))
            return parse_diag_answer(nl.recv(8192))
    except (OSError, AttributeError) as exc:  # no AF_NETLINK here, or forbidden, or no answer
        raise NetlinkUnavailable(str(exc)) from None


def _ip(hex_addr: str) -> _Addr:
    raw = bytes.fromhex(hex_addr)
    # the kernel prints each 32-bit word in host (little-endian) order
    fixed = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(fixed)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _endpoint(text: str) -> tuple[_Addr, int]:
    addr, port = text.split(":")
    return _ip(addr), int(port, 16)


def table_uid(client: tuple[_Addr, int], server: tuple[_Addr, int], tables: tuple[Path, ...]) -> int | None:
    """The uid column of the row whose local end is ``client`` and remote end ``server``."""
    for table in tables:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) < 10:
                continue
            try:
                if _endpoint(f[1]) == client and _endpoint(f[2]) == server:
                    return None if f[9] == "0" else int(f[7])  # inode 0: closed, nobody's
            except ValueError:
                continue
    return None


def peer_uid(peer: tuple, local: tuple, tables: tuple[Path, ...] | None = None) -> int | None:
    """The uid of the socket at ``peer`` connected to ``local`` (both as from getpeername /
    getsockname), or None when nobody can say (no such connection, peer on another host,
    neither netlink nor /proc available). ``tables`` skips netlink and reads those files."""
    client, server = _norm(peer), _norm(local)
    if tables is None:
        try:
            return netlink_uid(client, server)
        except NetlinkUnavailable:
            tables = TABLES
    for _attempt in range(2):
        uid = table_uid(client, server, tables)
        if uid is not None:
            return uid
    return None
