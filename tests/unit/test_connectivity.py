import socket
import struct

from ansible_collections.aiplatform.stack.plugins.module_utils import connectivity as cn


def answer(qid, ips, rcode=0):
    query = cn.dns_query("postgres", qid)
    header = struct.pack(">HHHHHH", qid, 0x8180 | rcode, 1, len(ips), 0, 0)
    body = query[12:]
    for ip in ips:
        body += b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 600, 4) + socket.inet_aton(ip)
    return header + body


def test_parse_answers():
    assert cn.parse_a_records(answer(7, ["172.20.0.3"]), 7) == ["172.20.0.3"]
    assert cn.parse_a_records(answer(7, ["172.20.0.3"]), 8) == []  # not our query
    assert cn.parse_a_records(answer(7, [], rcode=3), 7) == []  # NXDOMAIN


def test_ip_needs_no_resolution_and_closed_port_names_the_address():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    result = cn.check("127.0.0.1", port)
    assert not result["ok"] and result["address"] == f"127.0.0.1:{port}"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        assert cn.check("127.0.0.1", listener.getsockname()[1])["ok"]
    finally:
        listener.close()


def test_in_netns_of_our_own_process_works_as_root():
    import os

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        found = cn.in_netns(os.getpid(), [("127.0.0.1", listener.getsockname()[1])])
        assert found[0]["ok"]
    finally:
        listener.close()


def test_call_in_netns_returns_the_childs_result_and_raises_its_error():
    import os

    import pytest

    def fail():
        raise ValueError("boom")

    assert cn.call_in_netns(os.getpid(), lambda: {"pid_differs": os.getpid()}) != {"pid_differs": os.getpid()}
    with pytest.raises(OSError, match="boom"):
        cn.call_in_netns(os.getpid(), fail)
    with pytest.raises(OSError):
        cn.call_in_netns(2 ** 22 + 12345, lambda: 1)  # no such process: its namespace cannot be opened
