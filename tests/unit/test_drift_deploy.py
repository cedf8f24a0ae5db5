"""Drift in the deploy: the check step finds it with one extra engine call, reports it (reason, diff) as a change,
and the up step recreates exactly the drifted compose services; status.yml finds it against the kept specs."""
import copy
import json
import os

import yaml

from ansible_collections.aiplatform.stack.plugins.module_utils import compose, drift
from ansible_collections.aiplatform.stack.plugins.module_utils.deploy_step import run_step
from ansible_collections.aiplatform.stack.plugins.module_utils.project import ProjectDeployer
from ansible_collections.aiplatform.stack.plugins.module_utils.project_files import files_hash, plan_files, write_files

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "drift")
SECRET = "s3cr3t-redis-pass-0123456789abcdef"
FILES = {"compose.yml": {"content": open(os.path.join(FIXTURES, "redis_compose.yml")).read(), "mode": "0644"},
         "redis.env": {"content": f"REDIS_PASSWORD='{SECRET}'\n", "mode": "0600"}}
SPECS = drift.service_specs(yaml.safe_load(FILES["compose.yml"]["content"]))
PROBE = {"type": "command", "command": ["redis-cli", "ping"], "expect_output": "PONG"}


class Engine:
    """One redis container as `docker inspect` shows it; answers compose and docker calls, records them."""

    def __init__(self, doc):
        self.doc = doc
        self.calls = []

    def __call__(self, argv, env=None, data=None):
        self.calls.append(list(argv))
        labels = self.doc["Config"]["Labels"]
        if "compose" in argv:
            if "pull" in argv:
                return 0, "", ""
            if "--format" in argv and "config" in argv:
                return 0, json.dumps({"services": {"redis": {"image": "redis:7"}}}), ""
            if "--services" in argv:
                return 0, "redis\n", ""
            if "ps" in argv:
                return 0, json.dumps({"ID": self.doc["Id"], "Service": "redis", "State": "running", "ExitCode": 0,
                                      "Labels": f"{compose.HASH_LABEL}={labels[compose.HASH_LABEL]}"}), ""
            if "up" in argv:
                labels[compose.HASH_LABEL] = env[compose.HASH_ENV]
                return 0, "", '{"id":"Container aiplatform-redis","status":"Recreated"}\n'
            return 1, "", "unexpected compose call"
        if argv[1] == "ps":
            return 0, f"{self.doc['Id']} {labels['com.docker.compose.project']}\n", ""
        if argv[1] == "inspect":
            return 0, json.dumps([self.doc]), ""
        if argv[1:3] == ["image", "inspect"]:
            return 0, open(os.path.join(FIXTURES, "redis_image_inspect.json")).read(), ""
        if argv[1] == "exec":
            return 0, "PONG\n", ""
        return 0, "", ""

    def verbs(self):
        return ["image inspect" if argv[1:3] == ["image", "inspect"] else argv[1] if argv[1] != "compose"
                else "compose " + next(w for w in argv[2:] if w in ("config", "ps", "up", "pull")) for argv in self.calls]


def deployed(tmp_path, change=None):
    """A project written to disk and its running container (changed by hand with `change`)."""
    project = str(tmp_path / "redis")
    write_files(project, plan_files(project, FILES))
    doc = json.load(open(os.path.join(FIXTURES, "redis_inspect.json")))[0]
    doc["Config"]["Labels"][compose.HASH_LABEL] = files_hash(plan_files(project, FILES))
    if change:
        change(doc)
    return project, Engine(doc)


def check_request(project):
    return {"check": [{"service": "redis", "project_src": project, "project_name": "aiplatform-redis",
                       "files": FILES, "model": SPECS, "probe": PROBE, "target": "redis"}]}


def extra_port(doc):
    doc["HostConfig"]["PortBindings"]["6380/tcp"] = [{"HostIp": "0.0.0.0", "HostPort": "6380"}]


def test_the_noop_check_costs_one_extra_call_and_reports_nothing(tmp_path):
    project, engine = deployed(tmp_path)
    out = run_step(check_request(project), check_mode=False, run=engine)
    assert out["check"]["redis"]["changed"] is False and out["probe"]["redis"]["verdict"] == "ready"
    assert engine.verbs() == ["compose config", "compose ps", "ps", "inspect", "exec", "image inspect"]
    assert os.path.exists(os.path.join(project, drift.MODELS_FILE))  # kept for status.yml


def test_a_drifted_container_is_a_change_with_its_reason_and_diff_and_no_secret(tmp_path):
    def by_hand(doc):
        extra_port(doc)
        doc["Config"]["Image"] = "aiplatform-lab/redis:other"
        doc["Config"]["Env"].append("DEBUG=1")
        doc["HostConfig"]["RestartPolicy"]["Name"] = "always"

    project, engine = deployed(tmp_path, by_hand)
    out = run_step(check_request(project), check_mode=True, run=engine)
    r = out["check"]["redis"]
    assert r["changed"] and r["recreate_services"] == ["redis"]
    assert r["reason"] == ("drift: image aiplatform-lab/redis:other (want aiplatform-lab/redis:current), env DEBUG "
                           "added, port 0.0.0.0:6380->6380/tcp added, restart always (want unless-stopped)")
    assert r["diff"][-1]["before_header"] == "redis (running containers)"
    assert "redis" not in out["probe"]  # not taken for settled by anything later in the step
    assert not [v for v in engine.verbs() if v == "compose up"]  # check mode: nothing recreated
    assert not os.path.exists(os.path.join(project, drift.MODELS_FILE))  # and nothing written
    assert SECRET not in json.dumps(out)


def test_the_up_step_recreates_only_the_drifted_services(tmp_path):
    project, engine = deployed(tmp_path, extra_port)
    up = dict(check_request(project)["check"][0], recreate_services=["redis"])
    out = run_step({"up": [up], "pull": "never"}, run=engine)
    r = out["up"]["redis"]
    assert r["changed"] and r["actions"] == ["up --force-recreate redis"]
    ups = [argv for argv in engine.calls if "up" in argv]
    assert len(ups) == 1 and ups[0][-4:] == ["--detach", "--force-recreate", "--no-deps", "redis"]


def test_no_forced_recreate_when_the_hash_already_recreates(tmp_path):
    project, engine = deployed(tmp_path)
    engine.doc["Config"]["Labels"][compose.HASH_LABEL] = "an-older-hash"
    result = ProjectDeployer(engine, project, "aiplatform-redis").present(FILES, pull="never", recreate_services=["redis"])
    ups = [argv for argv in engine.calls if "up" in argv]
    assert result["drift"] == ["redis"] and len(ups) == 1 and "--force-recreate" not in ups[0]  # compose recreates it for the label already


def test_without_specs_in_the_request_the_check_is_as_before(tmp_path):
    project, engine = deployed(tmp_path, extra_port)
    request = check_request(project)
    del request["check"][0]["model"]
    out = run_step(request, check_mode=True, run=engine)
    assert out["check"]["redis"]["changed"] is False and "image inspect" not in engine.verbs()


def test_status_finds_drift_against_what_the_last_deploy_kept(tmp_path):
    from ansible_collections.aiplatform.stack.plugins.module_utils.probes import probe_services

    project, engine = deployed(tmp_path)
    run_step(check_request(project), run=engine)  # a deploy that found it as it should be keeps the specs
    extra_port(engine.doc)
    raw = {}
    probe_services(engine, [{"name": "redis", "project": "aiplatform-redis", "probe": PROBE}], raw=raw)
    found = drift.on_disk(engine, [{"name": "redis", "project": "aiplatform-redis"}], str(tmp_path), raw)
    assert [drift.describe(d) for d in found["redis"]] == ["port 0.0.0.0:6380->6380/tcp added"]
    assert copy.deepcopy(raw)["aiplatform-redis"][0]["Id"] == engine.doc["Id"]


def test_a_check_asked_to_start_if_changed_brings_a_changed_project_up_in_the_same_call(tmp_path):
    project, engine = deployed(tmp_path)
    request = check_request(project)
    request["check"][0]["start_if_changed"] = True
    out = run_step(request, check_mode=False, run=engine)  # unchanged: the check as before, nothing started
    assert out["check"]["redis"]["changed"] is False and "brought_up" not in out["check"]["redis"]
    assert out["probe"]["redis"]["verdict"] == "ready" and "compose up" not in engine.verbs()

    changed = dict(FILES, **{"redis.env": {"content": f"REDIS_PASSWORD='{SECRET}x'\n", "mode": "0600"}})
    request["check"][0]["files"] = changed
    out = run_step(dict(request, pull="never"), check_mode=True, run=engine)  # check mode: never started
    assert out["check"]["redis"]["changed"] and "brought_up" not in out["check"]["redis"]
    assert "compose up" not in engine.verbs()

    engine.calls.clear()
    out = run_step(dict(request, pull="never"), check_mode=False, run=engine)
    r = out["check"]["redis"]
    assert r["changed"] and r["brought_up"] and r["rollback_available"] and engine.verbs().count("compose up") == 1
    assert "redis" not in out["probe"]  # just started: waited for by the next steps, not judged for drift now
    kept = json.load(open(os.path.join(project, drift.MODELS_FILE)))
    assert r["config_hash"] in kept and SECRET not in json.dumps(out)


def test_a_project_changed_only_in_its_containers_is_left_to_the_drift_check_not_started_by_it(tmp_path):
    project, engine = deployed(tmp_path, extra_port)
    engine.doc["Config"]["Labels"][compose.HASH_LABEL] = "handmade"  # a container recreated by hand
    request = check_request(project)
    request["check"][0]["start_if_changed"] = True
    out = run_step(request, check_mode=False, run=engine)
    r = out["check"]["redis"]
    assert r["changed"] and "brought_up" not in r and "compose up" not in engine.verbs()
    assert "port 0.0.0.0:6380->6380/tcp added" in r["reason"]  # said first; the up step puts it back
