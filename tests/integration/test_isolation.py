"""A failed service stops only what depends on it: dependents are skipped with the reason, the rest carry on."""
import json
import subprocess

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev

from .conftest import docker


def test_dependents_skipped_independents_healthy(platform):
    run = platform.deploy({
        # Redis is broken on purpose: the stand-in image has no redis entrypoint, so it crash-loops.
        "redis_image": "aiplatform-lab/standin:current",
        "aiplatform_dependencies": {"postgres": [], "redis": [], "litellm": ["redis"]},
    })
    assert run.rc != 0
    assert run.of(ev.RESTART_LOOP, "redis")
    assert run.of(ev.HEALTH_SUCCESS, "postgres")  # independent: carried on
    skipped = run.of(ev.DEPLOY_SKIPPED, "litellm")
    assert skipped and "depends on redis, which failed" in skipped[0]["message"]
    assert skipped[0]["level"] == "WARN"
    assert not run.of(ev.DEPLOY_START, "litellm")
    assert "not healthy on localhost: redis" in run.stdout
    assert docker("inspect", "-f", "{{.State.Status}}", "aiplatform-redis").stdout.strip() == "exited"  # stopped


def test_bad_input_is_rejected_before_anything_changes(platform):
    import os

    run = platform.deploy({
        "litellm_modles": [],
        "litellm_models": [{"model_name": "x", "litellm_params": {"model": "openai/x", "api_key": "sk-literal-12345"}},
                           {"model_name": "y", "litellm_params": {"model": "openai/y", "api_key": "os.environ/OPENAI_KEY"}}],
        "redis_published_port": 4000,
        "postgres_image": "postgres:latest",
        "aiplatform_dependencies": {"postgres": ["litellm"], "redis": [], "litellm": ["postgres"]},
    })
    assert run.rc != 0
    messages = [e["message"] for e in run.events if e["level"] == "ERROR"]
    text = "\n".join(messages)
    assert "litellm.litellm_modles: unknown variable for litellm; did you mean litellm_models?" in text
    assert "litellm_params[api_key]: holds a literal secret" in text and "sk-literal-12345" not in run.stdout
    assert "references OPENAI_KEY, which nothing provides; add OPENAI_KEY to litellm_extra_secrets" in text
    assert "postgres.images.postgres: 'postgres:latest' floats; pin a release tag in postgres_image" in text
    conflict = run.of(ev.PORT_CONFLICT, "litellm")
    assert conflict and "port 4000 on localhost is also claimed by redis.redis" in conflict[0]["message"]
    assert not run.of(ev.DEPLOY_START)
    assert not os.path.exists(os.path.join(platform.base_dir, "litellm"))  # nothing on the host changed


def test_dependency_cycle_names_its_path(platform):
    run = platform.deploy({"aiplatform_dependencies": {"postgres": ["litellm"], "redis": [], "litellm": ["postgres"]}})
    assert run.rc != 0
    invalid = run.of(ev.CONFIG_INVALID)
    assert invalid and "cycle litellm -> postgres -> litellm" in invalid[0]["message"]
    assert not run.of(ev.DEPLOY_START)


def test_engine_unreachable_is_its_own_category(platform):
    run = platform.deploy(env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert run.rc != 0
    fail = run.of(ev.PRECHECK_FAIL)
    assert fail and fail[0]["category"] == "engine" and "Docker engine not reachable" in fail[0]["message"]
    assert not run.of(ev.DEPLOY_START)


def test_too_little_disk_is_its_own_category(platform):
    run = platform.deploy({"aiplatform_min_disk_gb": 1000000})
    assert run.rc != 0
    fail = run.of(ev.PRECHECK_FAIL)
    assert fail and fail[0]["category"] == "disk" and "GiB free" in fail[0]["message"]


def test_a_container_taken_off_its_network_is_drift_put_back(platform):
    run = platform.deploy()
    assert run.rc == 0, run.stdout[-3000:]
    inspect = docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", "aiplatform-redis").stdout
    network = sorted(json.loads(inspect))[0]  # a link network, or its own project's when nothing links to it
    docker("network", "disconnect", network, "aiplatform-redis")
    run = platform.deploy()
    assert run.rc == 0, run.stdout[-3000:]
    drift = run.of(ev.DRIFT, "redis")
    assert drift and f"network {network}" in drift[0]["message"], [e["message"] for e in run.events]
    assert not run.of(ev.CONNECTIVITY_FAIL)  # back on its network: its consumers reach it again


def test_broken_wiring_names_the_address_that_cannot_be_reached(platform):
    run = platform.deploy()
    assert run.rc == 0, run.stdout[-3000:]
    # Redis refuses connections from its network (not on loopback: its own probe still answers). The container is
    # as deployed, so this is no drift: only the wiring check can see it.
    pid = docker("inspect", "-f", "{{.State.Pid}}", "aiplatform-redis").stdout.strip()
    rule = ["INPUT", "-i", "eth0", "-p", "tcp", "--dport", "6379", "-j", "REJECT", "--reject-with", "tcp-reset"]
    subprocess.run(["nsenter", "-t", pid, "-n", "iptables", "-I", *rule], check=True)
    try:
        run = platform.deploy()
    finally:
        subprocess.run(["nsenter", "-t", pid, "-n", "iptables", "-D", *rule], check=False)
    assert run.rc != 0
    fail = run.of(ev.CONNECTIVITY_FAIL, "litellm")
    assert fail and fail[0]["level"] == "ERROR"
    assert "cannot reach redis at " in fail[0]["message"]
    assert "aiplatform-redis -> " in fail[0]["message"] and "Connection refused" in fail[0]["message"]
    assert not run.of(ev.CONNECTIVITY_FAIL, "postgres")


def test_services_described_only_as_data_deploy_in_order_and_idempotently(platform):
    custom = {"aiplatform_services": ["redis"], "aiplatform_dependencies": {"redis": []}, "aiplatform_custom_services": {
        "echo": {"image": "aiplatform-lab/standin:current", "port": 8080, "published_port": 18080,
                 "probe": {"type": "http", "port": 8080, "path": "/health", "json": {"status": "ok"}},
                 "environment": {"STANDIN_SERVICE": "echo", "STANDIN_START_DELAY": "1"}, "depends_on": ["redis"]},
        "later": {"image": "aiplatform-lab/standin:current", "port": 8080, "depends_on": ["echo"]}}}
    run = platform.deploy(custom)
    assert run.rc == 0, run.stdout[-3000:]
    healthy = {e["service"]: e["time"] for e in run.of(ev.HEALTH_SUCCESS)}
    starts = {e["service"]: e["time"] for e in run.of(ev.DEPLOY_START)}
    assert starts["echo"] >= healthy["redis"] and starts["later"] >= healthy["echo"]
    assert docker("inspect", "-f", "{{json .HostConfig.PortBindings}}", "aiplatform-echo").stdout.count("127.0.0.1") == 1
    again = platform.deploy(custom)
    assert again.rc == 0 and again.recap()["changed"] == 0
    down = platform.deploy(custom, playbook="playbooks/teardown.yml")
    assert down.rc == 0, down.stdout[-3000:]
