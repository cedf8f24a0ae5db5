"""Verify the converged lab stack from the host's point of view (testinfra)."""
import json


def test_containers_run_with_restart_policy_and_log_rotation(host):
    for name in ("aiplatform-postgres", "aiplatform-redis", "aiplatform-litellm"):
        info = json.loads(host.check_output(f"docker inspect {name}"))[0]
        assert info["State"]["Running"]
        assert info["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
        assert info["HostConfig"]["LogConfig"]["Config"]["max-size"] == "10m"


def test_litellm_ready_on_loopback_only(host):
    assert host.socket("tcp://127.0.0.1:4000").is_listening
    assert not host.socket("tcp://0.0.0.0:4000").is_listening
    out = host.check_output("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:4000/health/readiness")
    assert out == "200"


def test_secrets_private(host):
    for name in ("postgres", "redis", "litellm"):
        f = host.file(f"/tmp/aiplatform-molecule/secrets/{name}.json")
        assert f.mode == 0o600 and f.user == "root"
