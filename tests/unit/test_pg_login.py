"""The PostgreSQL login probe against a scripted server that checks SCRAM-SHA-256 as PostgreSQL does."""
from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import struct
import threading

import pytest

from ansible_collections.aiplatform.stack.plugins.module_utils.pg_login import LoginError, login

SALT, ITERATIONS = b"0123456789abcdef", 4096


def msg(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("!I", len(payload) + 4) + payload


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        data += conn.recv(n - len(data))
    return data


def read_message(conn):
    head = read_exact(conn, 5)
    return head[:1], read_exact(conn, struct.unpack("!I", head[1:])[0] - 4)


def error(text: str, code: str) -> bytes:
    return msg(b"E", b"SFATAL\0C" + code.encode() + b"\0M" + text.encode() + b"\0\0")


def serve(password: str, database: str):
    """One connection, SCRAM-SHA-256 checked from the stored key like the server does; returns the port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), SALT, ITERATIONS)
    stored_key = hashlib.sha256(hmac.new(salted, b"Client Key", hashlib.sha256).digest()).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def run():
        conn, dummy = listener.accept()
        with conn:
            length = struct.unpack("!I", read_exact(conn, 4))[0]
            params = read_exact(conn, length - 4)[4:].split(b"\0")
            wanted_db = params[params.index(b"database") + 1].decode()
            conn.sendall(msg(b"R", struct.pack("!I", 10) + b"SCRAM-SHA-256\0\0"))
            dummy, payload = read_message(conn)
            client_first = payload[payload.index(b"\0") + 5:].decode()
            bare = client_first[3:]
            nonce = dict(x.split("=", 1) for x in bare.split(","))["r"] + "server"
            server_first = f"r={nonce},s={base64.b64encode(SALT).decode()},i={ITERATIONS}"
            conn.sendall(msg(b"R", struct.pack("!I", 11) + server_first.encode()))
            dummy, payload = read_message(conn)
            final = dict(x.split("=", 1) for x in payload.decode().split(","))
            without_proof = f"c={final['c']},r={final['r']}"
            auth = f"{bare},{server_first},{without_proof}".encode()
            signature = hmac.new(stored_key, auth, hashlib.sha256).digest()
            client_key = bytes(a ^ b for a, b in zip(base64.b64decode(final["p"]), signature, strict=True))
            if hashlib.sha256(client_key).digest() != stored_key or final["r"] != nonce:
                conn.sendall(error('password authentication failed for user "n8n"', "28P01"))
                return
            server_sig = base64.b64encode(hmac.new(server_key, auth, hashlib.sha256).digest())
            conn.sendall(msg(b"R", struct.pack("!I", 12) + b"v=" + server_sig))
            conn.sendall(msg(b"R", struct.pack("!I", 0)))
            if wanted_db != database:
                conn.sendall(error(f'database "{wanted_db}" does not exist', "3D000"))
                return
            conn.sendall(msg(b"S", b"server_version\x0016\0") + msg(b"Z", b"I"))
            read_message(conn)  # Terminate

    threading.Thread(target=run, daemon=True).start()
    return listener.getsockname()[1]


def test_logs_in_with_scram_and_waits_for_ready_for_query():
    port = serve("s3cret@with'quotes", "n8n")
    assert login("127.0.0.1", port, "n8n", "s3cret@with'quotes", "n8n") == "logged in to n8n as n8n"


def test_a_wrong_password_is_the_servers_refusal_without_the_password():
    port = serve("right", "n8n")
    with pytest.raises(LoginError) as err:
        login("127.0.0.1", port, "n8n", "wrong-password", "n8n")
    assert "password authentication failed" in str(err.value) and "28P01" in str(err.value)
    assert "wrong-password" not in str(err.value)


def test_a_database_not_made_yet_is_not_ready():
    port = serve("pw", "n8n")
    with pytest.raises(LoginError, match='database "other" does not exist'):
        login("127.0.0.1", port, "n8n", "pw", "other")


def test_nobody_listening_is_an_os_error():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(OSError):
        login("127.0.0.1", port, "n8n", "pw", "n8n", timeout=1)


def answer_once(reply: bytes) -> int:
    """A server that reads one request and sends `reply`."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def run():
        conn, dummy = listener.accept()
        with conn:
            conn.recv(1024)
            conn.sendall(reply)

    threading.Thread(target=run, daemon=True).start()
    return listener.getsockname()[1]


def test_ping_is_ready_when_the_server_asks_for_a_password_or_refuses_the_probe_role():
    from ansible_collections.aiplatform.stack.plugins.module_utils.pg_login import ping

    assert ping("127.0.0.1", answer_once(msg(b"R", struct.pack("!I", 10) + b"SCRAM-SHA-256\0\0")))[0]
    assert ping("127.0.0.1", answer_once(error('role "aiplatform_probe" does not exist', "28000")))[0]
    ok, detail = ping("127.0.0.1", answer_once(error("the database system is starting up", "57P03")))
    assert not ok and "starting up" in detail


def test_redis_ping_waits_while_redis_loads_its_data():
    from ansible_collections.aiplatform.stack.plugins.module_utils.deploy_step import redis_ping

    assert redis_ping("127.0.0.1", answer_once(b"+PONG\r\n"))[0]
    assert redis_ping("127.0.0.1", answer_once(b"-NOAUTH Authentication required.\r\n"))[0]
    assert not redis_ping("127.0.0.1", answer_once(b"-LOADING Redis is loading the dataset in memory\r\n"))[0]
