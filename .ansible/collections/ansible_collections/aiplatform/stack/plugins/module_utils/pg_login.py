# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Log in to PostgreSQL over its wire protocol (SCRAM-SHA-256, MD5 or password), without a client library.

A consumer on another host is ready to start only when it can log in to its own database with its own credentials:
that proves the server answers, the database exists and the role's password is set - a TCP connect proves none of it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import struct

PROTOCOL_3 = 196608


class LoginError(Exception):
    """The server refused the login; the message is the server's (it never holds the password)."""


def _message(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("!I", len(payload) + 4) + payload


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    return data


def _next(sock: socket.socket) -> tuple[bytes, bytes]:
    head = _read(sock, 5)
    length = struct.unpack("!I", head[1:5])[0]
    return head[:1], _read(sock, length - 4)


def _error_text(payload: bytes) -> str:
    fields = {}
    for part in payload.split(b"\0"):
        if part:
            fields[part[:1]] = part[1:].decode("utf-8", "replace")
    return f"{fields.get(b'M', 'error')} (SQLSTATE {fields.get(b'C', '?')})"


def scram_client_final(password: str, client_first_bare: str, server_first: str) -> tuple[str, bytes]:
    """The client's final SCRAM-SHA-256 message (RFC 5802) and the server signature it must then receive."""
    attrs = dict(item.split("=", 1) for item in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    without_proof = f"c=biws,r={attrs['r']}"
    auth_message = f"{client_first_bare},{server_first},{without_proof}".encode()
    signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    expected = hmac.new(server_key, auth_message, hashlib.sha256).digest()
    return f"{without_proof},p={base64.b64encode(proof).decode()}", expected


def ping(host: str, port: int, timeout: float = 3.0) -> tuple[bool, str]:
    """As pg_isready: is the server accepting connections? (A refused login still means yes; starting up means no.)"""
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.settimeout(timeout)
        startup = struct.pack("!I", PROTOCOL_3) + b"user\0aiplatform_probe\0database\0postgres\0\0"
        sock.sendall(struct.pack("!I", len(startup) + 4) + startup)
        kind, payload = _next(sock)
    if kind == b"R":
        return True, "accepting connections"
    text = _error_text(payload) if kind == b"E" else f"unexpected message {kind!r}"
    # 57P03: the database system is starting up (or shutting down); every other answer comes from a working server
    return "SQLSTATE 57P03" not in text, text


def login(host: str, port: int, user: str, password: str, database: str, timeout: float = 3.0) -> str:
    """Log in and wait until the server is ready for queries; returns a short detail, raises LoginError or OSError."""
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.settimeout(timeout)
        params = b"user\0" + user.encode() + b"\0database\0" + database.encode() + b"\0\0"
        startup = struct.pack("!I", PROTOCOL_3) + params
        sock.sendall(struct.pack("!I", len(startup) + 4) + startup)
        expected = None
        client_first_bare = ""
        while True:
            kind, payload = _next(sock)
            if kind == b"E":
                raise LoginError(_error_text(payload))
            if kind == b"Z":
                sock.sendall(_message(b"X", b""))
                return f"logged in to {database} as {user}"
            if kind != b"R":
                continue  # parameter status, backend key data, notices
            code = struct.unpack("!I", payload[:4])[0]
            if code == 0:
                continue
            if code == 3:  # cleartext (only where the server asks for it)
                sock.sendall(_message(b"p", password.encode() + b"\0"))
            elif code == 5:
                inner = hashlib.md5((password + user).encode()).hexdigest().encode()  # noqa: S324 (the protocol's)
                outer = hashlib.md5(inner + payload[4:8]).hexdigest()  # noqa: S324
                sock.sendall(_message(b"p", b"md5" + outer.encode() + b"\0"))
            elif code == 10:
                if b"SCRAM-SHA-256\0" not in payload[4:]:
                    raise LoginError("the server offers no SCRAM-SHA-256")
                client_first_bare = "n=,r=" + base64.b64encode(os.urandom(18)).decode()
                first = ("n,," + client_first_bare).encode()
                sock.sendall(_message(b"p", b"SCRAM-SHA-256\0" + struct.pack("!I", len(first)) + first))
            elif code == 11:
                final, expected = scram_client_final(password, client_first_bare, payload[4:].decode())
                sock.sendall(_message(b"p", final.encode()))
            elif code == 12:
                got = dict(item.split("=", 1) for item in payload[4:].decode().split(","))
                if expected is None or base64.b64decode(got.get("v", "")) != expected:
                    raise LoginError("the server's SCRAM signature does not match")
            else:
                raise LoginError(f"authentication method {code} is not supported")
