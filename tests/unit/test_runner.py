"""Every docker and compose command is bounded in time; a stuck one is its own category, naming the command."""
import time

import pytest

from ansible_collections.aiplatform.stack.plugins.module_utils import errors, runner
from ansible_collections.aiplatform.stack.plugins.module_utils.deploy_step import run_step


def present_many(projects, pull, networks, check_mode=False, run=None):
    """Several projects in one deploy step (as the scheduler sends them), results in input order with `name`."""
    part = "check" if check_mode else "up"
    request = {part: [dict(p, service=p["name"]) for p in projects], "pull": pull, "networks": networks}
    out = run_step(request, check_mode=check_mode, run=run)[part]
    return [dict(out[p["name"]], name=p["name"]) for p in projects]


@pytest.mark.parametrize("argv, verb, limit", [
    (["docker", "compose", "--project-directory", "/p", "-p", "aiplatform-n8n", "--progress", "json", "up", "-d"],
     "up", 900),
    (["docker", "compose", "--project-directory", "/p", "-p", "x", "--progress", "json", "pull"], "pull", 3600),
    (["docker", "exec", "-e", "A=1", "aiplatform-postgres", "pg_isready"], "exec", 120),
    (["docker", "info", "--format", "{{json .}}"], "info", runner.DEFAULT),
    (["docker", "inspect", "x"], "inspect", runner.DEFAULT),
])
def test_limits_by_verb(argv, verb, limit, monkeypatch):
    monkeypatch.delenv(runner.ENV_OVERRIDE, raising=False)
    assert runner.verb_of(argv) == verb
    assert runner.limit_for(argv) == limit
    monkeypatch.setenv(runner.ENV_OVERRIDE, "7")
    assert runner.limit_for(argv) == 7


def test_a_command_past_its_limit_is_killed_and_named():
    start = time.monotonic()
    rc, out, errout = runner.run(["sh", "-c", "echo partial; sleep 30 & sleep 30"], timeout=0.3)
    assert time.monotonic() - start < 5  # the whole process group was killed, the pipes closed
    assert rc == runner.TIMEOUT_RC and out.strip() == "partial"
    assert errout.startswith("sh ") and "did not finish within 0.3 s and was stopped" in errout
    assert errors.classify(errout) == errors.COMMAND_TIMEOUT


def test_a_command_within_its_limit_and_its_input():
    assert runner.run(["cat"], data="SELECT 1;\n", timeout=5) == (0, "SELECT 1;\n", "")
    assert runner.run(["/nonexistent/docker", "info"])[0] == 127


def test_message_names_the_compose_project_and_verb_without_env_values():
    argv = ["docker", "compose", "--project-directory", "/opt/p", "-p", "aiplatform-n8n", "--progress", "json",
            "up", "--detach", "--remove-orphans"]
    assert runner.describe(argv) == "docker compose -p aiplatform-n8n up"
    argv = ["docker", "exec", "-e", "PGPASSWORD=secret", "aiplatform-postgres", "pg_isready", "-q"]
    assert "secret" not in runner.timed_out_message(argv, 120)
    assert runner.describe(argv).startswith("docker exec aiplatform-postgres pg_isready")


class HungCompose:
    """A fake runner: `up` never finishes in time (what runner.run reports then); everything else answers."""

    def __init__(self):
        self.calls = []

    def __call__(self, argv, env=None):
        self.calls.append(argv)
        if "up" in argv:
            return runner.TIMEOUT_RC, "", runner.timed_out_message(argv, 900)
        if "--services" in argv:
            return 0, "a\n", ""
        if "config" in argv and "--format" in argv:
            return 0, '{"services": {"a": {"image": "x:1"}}}', ""
        return 0, "", ""


def test_a_hung_compose_up_fails_as_command_timeout_naming_the_command(tmp_path):
    files = {"compose.yml": {"content": "services:\n  a:\n    image: x:1\n", "mode": "0644"}}
    fake = HungCompose()
    [info] = present_many([{"name": "x", "project_src": str(tmp_path / "p"), "project_name": "aiplatform-x",
                            "files": files}], pull="missing", networks=[], run=fake)
    assert info["failed"] and any("up" in argv for argv in fake.calls)
    assert info["category"] == errors.COMMAND_TIMEOUT
    assert info["cause"].startswith("docker compose -p aiplatform-x up did not finish within 900 s")
    assert "docker info" in info["advice"]
