# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Connectivity from inside a service's network namespace to what it is wired to: name resolution and TCP.

The check runs in the container's network namespace (nsenter), so it sees exactly what the service sees: Docker's
embedded DNS at 127.0.0.11 for container names, the published address of a dependency on another host.
"""
from __future__ import annotations

import ipaddress
import random
import socket
import struct

EMBEDDED_DNS = "127.0.0.11"


def dns_query(name: str, qid: int) -> bytes:
    header = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    return header + qname + struct.pack(">HH", 1, 1)  # A, IN


def parse_a_records(packet: bytes, qid: int) -> list[str]:
    """IPv4 addresses in a DNS answer; [] for NXDOMAIN or an answer to another query."""
    if len(packet) < 12:
        return []
    rid, flags, qd, an = struct.unpack(">HHHH", packet[:8])
    if rid != qid or flags & 0x000F:
        return []
    pos = 12
    for dummy in range(qd):
        while packet[pos] != 0:
            pos += packet[pos] + 1
        pos += 5
    out = []
    for dummy in range(an):
        if packet[pos] & 0xC0 == 0xC0:
            pos += 2
        else:
            while packet[pos] != 0:
                pos += packet[pos] + 1
            pos += 1
        rtype, dummy, dummy2, rdlen = struct.unpack(">HHIH", packet[pos:pos + 10])
        pos += 10
        if rtype == 1 and rdlen == 4:
            out.append(socket.inet_ntoa(packet[pos:pos + 4]))
        pos += rdlen
    return out


def resolve(name: str, server: str = EMBEDDED_DNS, timeout: float = 2.0) -> list[str]:
    try:
        ipaddress.ip_address(name)
        return [name]
    except ValueError:
        pass
    qid = random.randint(1, 0xFFFF)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(dns_query(name, qid), (server, 53))
        data, dummy = sock.recvfrom(2048)
    return parse_a_records(data, qid)


def check(host: str, port: int, timeout: float = 2.0) -> dict:
    """{ok, address, detail} for one endpoint, as seen from the current network namespace."""
    try:
        addresses = resolve(host)
    except OSError as exc:
        return {"ok": False, "address": f"{host}:{port}", "detail": f"name {host} not resolved: {exc}"}
    if not addresses:
        return {"ok": False, "address": f"{host}:{port}", "detail": f"name {host} not resolved (no such container)"}
    address = f"{addresses[0]}:{port}"
    try:
        with socket.create_connection((addresses[0], int(port)), timeout=timeout):
            return {"ok": True, "address": address, "detail": f"{host} -> {address} open"}
    except OSError as exc:
        return {"ok": False, "address": address, "detail": f"{host} -> {address}: {exc.strerror or exc}"}


CLONE_NEWNET = 0x40000000


def in_netns(pid: int, endpoints: list[tuple[str, int]]) -> list[dict]:
    """check() each endpoint from inside the network namespace of process `pid` (a container's), in a child.

    The child joins the namespace with setns(2) (needs root); the parent stays where it was.
    """
    return call_in_netns(pid, lambda: [check(h, p) for h, p in endpoints])


def call_in_netns(pid: int, func):
    """func() run in a child that joined the network namespace of process `pid`; its result must be JSON data.

    An exception in the child (or a failed setns) is raised here as OSError with its message.
    """
    import ctypes
    import json
    import os

    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            os.close(read_end)
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns failed")
            payload = {"result": func()}
        except Exception as exc:  # reported to the parent
            payload = {"error": str(exc)}
        os.write(write_end, json.dumps(payload).encode())
        os._exit(0)
    os.close(write_end)
    chunks = []
    while True:
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(child, 0)
    answer = json.loads(b"".join(chunks) or b'{"error": "no answer from the namespace"}')
    if "error" in answer:
        raise OSError(answer["error"])
    return answer["result"]
