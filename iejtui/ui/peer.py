"""Who is on the other end of a loopback TCP connection: the uid owning the client's socket,
from Linux's /proc/net/tcp and tcp6 (what identd reads). A loopback port is open to every user
of a shared box; ``iejtui web`` on loopback serves only its own user (an SSH port forward
connects as that user: sshd's session process owns the client socket).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
_Addr = ipaddress.IPv4Address | ipaddress.IPv6Address


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


def _norm(addr: tuple) -> tuple[_Addr, int]:
    ip = ipaddress.ip_address(addr[0].split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip, int(addr[1])


def peer_uid(peer: tuple, local: tuple, tables: tuple[Path, ...] = TABLES) -> int | None:
    """The uid of the socket at ``peer`` connected to ``local`` (both as from getpeername /
    getsockname), or None when no table says (not Linux, /proc hidden, peer on another host)."""
    want_client, want_server = _norm(peer), _norm(local)
    for table in tables:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) < 8:
                continue
            try:
                if _endpoint(f[1]) == want_client and _endpoint(f[2]) == want_server:
                    return int(f[7])
            except ValueError:
                continue
    return None
