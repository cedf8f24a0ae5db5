from ansible_collections.aiplatform.stack.plugins.module_utils import host_checks as hc

# Recorded /proc/net/tcp and tcp6 lines: 127.0.0.1:4000 and 0.0.0.0:5432 listening, one established, [::]:11434
TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0FA0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0000000000000000 100 0 0 10 0
   1: 00000000:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 222 1 0000000000000000 100 0 0 10 0
   2: 0100007F:0FA0 0100007F:D0A2 01 00000000:00000000 00:00000000 00000000     0        0 333 1 0000000000000000 20 4 30 10 -1
"""
TCP6 = ("  sl  local_address                         remote_address                        st tx_queue rx_queue"
        " tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 00000000000000000000000000000000:2CAA 00000000000000000000000000000000:0000 0A"
        " 00000000:00000000 00:00000000 00000000     0        0 444 1 0000000000000000 100 0 0 10 0\n")


def test_parse_listening_sockets_only():
    socks = hc.parse_proc_net_tcp(TCP) + hc.parse_proc_net_tcp(TCP6)
    assert socks == [{"ip": "127.0.0.1", "port": 4000, "inode": "111"}, {"ip": "0.0.0.0", "port": 5432, "inode": "222"},
                     {"ip": "::", "port": 11434, "inode": "444"}]


def test_conflicts_foreign_process_own_container_and_other_container():
    socks = hc.parse_proc_net_tcp(TCP) + hc.parse_proc_net_tcp(TCP6)
    wanted = [
        {"service": "litellm", "port": 4000, "bind": "127.0.0.1", "container": "aiplatform-litellm"},
        {"service": "ollama", "port": 11434, "bind": "127.0.0.1", "container": "aiplatform-ollama"},
        {"service": "postgres", "port": 5432, "bind": "127.0.0.1", "container": "aiplatform-postgres"},
        {"service": "redis", "port": 6379, "bind": "127.0.0.1", "container": "aiplatform-redis"},
    ]
    published = {4000: "aiplatform-litellm", 5432: "someone-elses-db"}
    conflicts = hc.port_conflicts(wanted, socks, published, "h1")
    assert [c["service"] for c in conflicts] == ["ollama", "postgres"]  # litellm's own port is fine; redis is free
    text = hc.describe_conflict(conflicts[0], {"444": {"pid": 42, "command": "ollama serve"}})
    assert text == ("port 11434 on h1 (127.0.0.1) wanted by ollama is held by process 42 (ollama serve); "
                    "stop that or set ollama_published_port to a free port")
    assert "container someone-elses-db" in hc.describe_conflict(conflicts[1], {})


def test_bind_addresses_that_do_not_overlap_are_no_conflict():
    socks = [{"ip": "127.0.0.2", "port": 8080, "inode": "1"}]
    wanted = [{"service": "a", "port": 8080, "bind": "127.0.0.1", "container": "c"}]
    assert hc.port_conflicts(wanted, socks, {}, "h") == []
    wanted[0]["bind"] = "0.0.0.0"
    assert len(hc.port_conflicts(wanted, socks, {}, "h")) == 1


def test_owners_finds_our_own_listening_socket():
    import os
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        port = s.getsockname()[1]
        mine = [x for x in hc.listening() if x["port"] == port]
        assert mine
        procs = hc.owners({mine[0]["inode"]})
        assert procs[mine[0]["inode"]]["pid"] == os.getpid()
    finally:
        s.close()


def test_disk_free_of_a_missing_path_uses_its_parent(tmp_path):
    assert hc.disk_free_gb(str(tmp_path / "not" / "yet")) > 0


def test_compose_versions_are_read_from_every_known_form():
    assert hc.compose_version("2.40.3\n") == (2, 40, 3)
    assert hc.compose_version("v2.29.1-desktop.1") == (2, 29, 1)
    assert hc.compose_version("2.30") == (2, 30, 0)
    assert hc.compose_version("garbage") is None


def test_compose_older_than_2_29_is_refused_with_what_to_do():
    assert hc.compose_problem("2.29.0") is None and hc.compose_problem("v2.40.3") is None
    msg = hc.compose_problem("2.20.2")
    assert "2.20.2 is too old" in msg and "2.29 or newer" in msg and "--progress json" in msg
    assert hc.compose_problem("1.29.2") and hc.compose_problem("")


def test_docker_host_values_and_environment():
    assert hc.docker_host_problem(None) is None and hc.docker_host_problem("ssh://deploy@10.0.0.5") is None
    assert "must start with" in hc.docker_host_problem("10.0.0.5:2375")
    env = {}
    hc.use_docker_host("tcp://10.0.0.5:2376", env)
    assert env == {"DOCKER_HOST": "tcp://10.0.0.5:2376"}
    hc.use_docker_host(None, env)
    assert env == {"DOCKER_HOST": "tcp://10.0.0.5:2376"}


def fake_host(answers):
    """runner.run for precheck: (rc, out, err) by the command's first two words after docker."""
    def run(argv, **kw):
        return answers.get(" ".join(argv[1:3]), (0, "", ""))
    return run


INFO = (0, '{"ServerVersion": "26.1.5", "DockerRootDir": "/", "Runtimes": {}}', "")


def test_a_host_without_the_docker_cli_is_a_missing_prerequisite_not_a_stopped_engine():
    from ansible_collections.aiplatform.stack.plugins.module_utils import errors, runner
    got = hc.precheck({}, fake_host({"info --format": (runner.NOT_FOUND_RC, "", "docker: [Errno 2] No such file")}))
    assert got["failed"] and got["category"] == "prerequisite" and "docker CLI is not installed" in got["msg"]
    assert got["advice"] == errors.ADVICE["prerequisite"] and "docker-compose-plugin" in got["advice"]
    assert got["events"][0]["category"] == "prerequisite"


def test_a_missing_or_old_compose_plugin_is_a_missing_prerequisite():
    missing = hc.precheck({}, fake_host({"info --format": INFO, "compose version": (
        1, "", "docker: 'compose' is not a docker command.")}))
    assert missing["category"] == "prerequisite" and "Compose v2 plugin is missing" in missing["msg"]
    assert "'compose' is not a docker command" in missing["msg"]
    old = hc.precheck({}, fake_host({"info --format": INFO, "compose version": (0, "2.20.2\n", "")}))
    assert old["category"] == "prerequisite" and "2.20.2 is too old" in old["msg"]


def test_an_engine_that_does_not_answer_is_still_the_engine():
    got = hc.precheck({}, fake_host({"info --format": (1, "", "Cannot connect to the Docker daemon at unix:///x")}))
    assert got["category"] == "engine" and "Docker engine not reachable" in got["msg"]
