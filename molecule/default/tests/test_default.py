"""Verify the converged lab stack from the host's point of view (testinfra)."""
import json


def test_containers_run_with_restart_policy_and_log_rotation(host):
    names = host.check_output("docker ps -a --filter label=aiplatform.stack.service --format '{{.Names}}'").split()
    assert sorted(names) == ["aiplatform-litellm", "aiplatform-postgres", "aiplatform-redis"]  # converge.yml's three
    for name in names:
        info = json.loads(host.check_output(f"docker inspect {name}"))[0]
        oneshot = info["Config"]["Labels"].get("aiplatform.stack.oneshot") == "true"
        assert info["State"]["Running"] or (oneshot and info["State"]["ExitCode"] == 0), name
        assert info["HostConfig"]["RestartPolicy"]["Name"] == ("no" if oneshot else "unless-stopped"), name
        assert info["HostConfig"]["LogConfig"]["Config"]["max-size"] == "10m", name


def test_litellm_ready_on_loopback_only(host):
    assert host.socket("tcp://127.0.0.1:4000").is_listening
    assert not host.socket("tcp://0.0.0.0:4000").is_listening
    out = host.check_output("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:4000/health/readiness")
    assert out == "200"


def test_secrets_private(host):
    for name in ("postgres", "redis", "litellm"):
        f = host.file(f"/tmp/aiplatform-molecule/secrets/{name}.json")
        assert f.mode == 0o600 and f.user == "root"
