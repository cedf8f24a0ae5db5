"""Drift: running containers (recorded `docker inspect`, docker 20.10 shape) against the rendered compose file.

Each kind of change made behind the platform's back (image, environment, port, mount, network, restart policy,
config-hash label) is named; the environment only by key; no secret value ever reaches the output.
"""
import copy
import json
import os

import yaml

from ansible_collections.aiplatform.stack.plugins.module_utils import drift

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "drift")
SECRET = "s3cr3t-redis-pass-0123456789abcdef"
HASH = "4b7c2a1d9e8f00112233445566778899"
COMPOSE = open(os.path.join(FIXTURES, "redis_compose.yml")).read()
FILES = {"compose.yml": {"content": COMPOSE, "mode": "0644"},
         "redis.env": {"content": f"REDIS_PASSWORD='{SECRET}'\n", "mode": "0600"}}
IMAGE_ID = "sha256:9c1e0b7a6d5c4f3e2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f"

LITELLM = """
name: aiplatform-litellm
services:
  litellm:
    image: aiplatform-lab/litellm:current
    container_name: aiplatform-litellm
    env_file: [litellm.env]
    environment:
      LITELLM_MODE: PRODUCTION
      STORE_MODEL_IN_DB: "False"
      PRICE: "5$$"
      DEBUG: true
    volumes:
      - ./config.yaml:/app/config.yaml:ro
    restart: "unless-stopped"
    networks:
      aiplatform:
        aliases: ["litellm"]
    ports:
      - "127.0.0.1:4000:4000"
      - "[::1]:4001:4000"
networks:
  aiplatform:
    name: aiplatform
    external: true
"""


def inspected():
    return json.load(open(os.path.join(FIXTURES, "redis_inspect.json")))


def specs():
    return drift.service_specs(yaml.safe_load(COMPOSE))  # on the controller


def want(config_hash=HASH):
    return drift.expected(specs(), FILES, "/opt/aiplatform/redis", config_hash)


def image_envs():
    docs = json.load(open(os.path.join(FIXTURES, "redis_image_inspect.json")))
    return {IMAGE_ID: drift.found({"Config": docs[0]["Config"]})["env"]}


def fields(diffs):
    return [(d["field"], d["expected"], d["found"]) for d in diffs]


def test_specs_from_the_rendered_compose_file():
    s = specs()
    assert s["project"] == "aiplatform-redis"
    redis = s["services"]["redis"]
    assert redis["image"] == "aiplatform-lab/redis:current" and redis["restart"] == "unless-stopped"
    assert redis["env_file"] == ["redis.env"] and redis["environment"] == {}
    assert redis["mounts"] == [{"type": "volume", "source": "aiplatform_redis_data", "target": "/data"}]
    assert redis["ports"] == ["127.0.0.1:16379->6379/tcp"] and redis["networks"] == ["aiplatform"]
    json.dumps(s)  # plain data: it travels to the host as a module argument


def test_binds_environment_and_ipv6_ports():
    s = drift.service_specs(yaml.safe_load(LITELLM))["services"]["litellm"]
    assert s["environment"] == {"LITELLM_MODE": "PRODUCTION", "STORE_MODEL_IN_DB": "False", "PRICE": "5$", "DEBUG": "true"}
    assert s["ports"] == ["127.0.0.1:4000->4000/tcp", "[::1]:4001->4000/tcp"]
    w = drift.expected(drift.service_specs(yaml.safe_load(LITELLM)), {"litellm.env": {"content": "KEY='x'\n"}},
                       "/opt/aiplatform/litellm", None)["litellm"]
    assert w["mounts"] == {"bind /opt/aiplatform/litellm/config.yaml:/app/config.yaml"}
    assert set(w["env"]) == {"KEY", "LITELLM_MODE", "STORE_MODEL_IN_DB", "PRICE", "DEBUG"}


def test_a_container_as_deployed_has_no_drift():
    assert drift.compare_project(want(), inspected(), image_envs()) == []
    # the image's own keys (PATH, REDIS_VERSION) are not extra keys, volumes the image declares are covered


def test_each_change_made_by_hand_is_named():
    doc = inspected()[0]
    doc["Config"]["Image"] = "aiplatform-lab/redis:other"
    doc["Config"]["Env"].append("DEBUG=1")
    doc["HostConfig"]["PortBindings"]["6380/tcp"] = [{"HostIp": "", "HostPort": "6380"}]
    doc["HostConfig"]["RestartPolicy"] = {"Name": "always", "MaximumRetryCount": 0}
    doc["Mounts"].append({"Type": "bind", "Source": "/tmp/x", "Destination": "/x", "Mode": "", "RW": True})
    doc["Mounts"].append({"Type": "volume", "Name": "e" * 64, "Destination": "/anon"})  # anonymous: not compared
    doc["NetworkSettings"]["Networks"]["bridge"] = {"IPAddress": "172.17.0.2"}
    diffs = drift.compare_project(want(), [doc], image_envs())
    assert fields(diffs) == [
        ("image", "aiplatform-lab/redis:current", "aiplatform-lab/redis:other"),
        ("env", drift.NONE, "DEBUG"),
        ("mount", drift.NONE, "bind /tmp/x:/x"),
        ("port", drift.NONE, "0.0.0.0:6380->6380/tcp"),
        ("network", drift.NONE, "bridge"),
        ("restart", "unless-stopped", "always"),
    ]
    assert {d["container"] for d in diffs} == {"aiplatform-redis"} and {d["service"] for d in diffs} == {"redis"}
    assert drift.summary(diffs) == ("drift: image aiplatform-lab/redis:other (want aiplatform-lab/redis:current), "
                                    "env DEBUG added, mount bind /tmp/x:/x added, port 0.0.0.0:6380->6380/tcp added, "
                                    "network bridge added, restart always (want unless-stopped)")


def test_missing_and_changed_things_are_named_too():
    doc = inspected()[0]
    doc["Config"]["Env"] = [e if not e.startswith("REDIS_PASSWORD=") else "REDIS_PASSWORD=another-one-entirely"
                            for e in doc["Config"]["Env"]]
    doc["HostConfig"]["PortBindings"] = {}
    doc["Mounts"] = []
    doc["Config"]["Labels"][drift.HASH_LABEL] = "ffff0000ffff0000"
    diffs = drift.compare_project(want(), [doc], image_envs())
    assert fields(diffs) == [
        ("config hash", HASH[:12], "ffff0000ffff"),
        ("env", "REDIS_PASSWORD=<configured value>", "REDIS_PASSWORD=<another value>"),
        ("mount", "volume aiplatform_redis_data:/data", drift.NONE),
        ("port", "127.0.0.1:16379->6379/tcp", drift.NONE),
    ]
    assert "env REDIS_PASSWORD changed" in drift.summary(diffs)


def test_no_secret_value_in_any_output():
    doc = inspected()[0]
    doc["Config"]["Env"] = ["REDIS_PASSWORD=other-secret-value-42", f"EXTRA={SECRET}"]
    diffs = drift.compare_project(want(), [doc], image_envs())
    text = json.dumps([diffs, drift.summary(diffs), drift.diff_entry("redis", diffs), drift.result_for("redis", diffs)])
    assert SECRET not in text and "other-secret-value-42" not in text
    assert drift.digest(SECRET) not in text  # not even the digests


def test_extra_keys_are_not_judged_when_the_image_is_unknown():
    doc = inspected()[0]
    doc["Config"]["Env"].append("DEBUG=1")
    assert drift.compare_project(want(), [doc], {}) == []  # image gone from the engine: PATH could be its own
    assert fields(drift.compare_project(want(), [doc], image_envs())) == [("env", drift.NONE, "DEBUG")]


def test_a_container_of_a_service_the_file_lacks():
    doc = inspected()[0]
    doc["Config"]["Labels"]["com.docker.compose.service"] = "sentinel"
    doc["Name"] = "/aiplatform-redis-sentinel"
    assert fields(drift.compare_project(want(), [doc], image_envs())) == [("service", drift.NONE, "sentinel")]


def test_image_names_are_compared_as_the_engine_resolves_them():
    assert drift.normal_image("docker.io/library/redis:7") == drift.normal_image("redis:7") == "redis:7"
    assert drift.normal_image("redis") == "redis:latest"
    assert drift.normal_image("registry:5000/x/redis") == "registry:5000/x/redis:latest"


def test_diff_entry_and_check_result():
    doc = inspected()[0]
    doc["Config"]["Image"] = "aiplatform-lab/redis:other"
    diffs = drift.compare_project(want(), [doc], image_envs())
    entry = drift.diff_entry("redis", diffs)
    assert entry["before"] == "aiplatform-redis: image: aiplatform-lab/redis:other\n"
    assert entry["after"] == "aiplatform-redis: image: aiplatform-lab/redis:current\n"
    result = drift.result_for("redis", diffs)
    assert result["changed"] and result["recreate_services"] == ["redis"]
    assert result["reason"] == "drift: image aiplatform-lab/redis:other (want aiplatform-lab/redis:current)"


class FakeDocker:
    def __init__(self):
        self.calls = []

    def __call__(self, argv, env=None):
        self.calls.append(argv)
        if argv[1:3] == ["image", "inspect"]:
            return 0, open(os.path.join(FIXTURES, "redis_image_inspect.json")).read(), ""
        return 1, "", "unexpected"


def test_the_check_step_judges_unchanged_projects_with_one_image_inspect():
    doc = inspected()[0]
    doc["Config"]["Env"].append("DEBUG=1")
    fake = FakeDocker()
    projects = [{"service": "redis", "project_name": "aiplatform-redis", "project_src": "/opt/aiplatform/redis",
                 "files": FILES, "model": specs()},
                {"service": "ollama", "project_name": "aiplatform-ollama", "project_src": "/x", "model": {}},
                {"service": "n8n", "project_name": "aiplatform-n8n", "project_src": "/y", "model": specs()}]
    results = {"redis": {"changed": False, "config_hash": HASH}, "ollama": {"changed": False},
               "n8n": {"changed": True, "config_hash": "x"}}  # changed anyway: not judged
    out = drift.check_step(fake, projects, results, {"aiplatform-redis": [doc], "aiplatform-n8n": [doc]})
    assert list(out) == ["redis"] and fields(out["redis"]) == [("env", drift.NONE, "DEBUG")]
    assert fake.calls == [["docker", "image", "inspect", IMAGE_ID]]
    assert drift.check_step(fake, projects, {"redis": {"failed": True}}, {"aiplatform-redis": [doc]}) == {}


def test_status_compares_with_the_specs_kept_for_the_files_on_disk(tmp_path):
    from ansible_collections.aiplatform.stack.plugins.module_utils.project_files import files_hash, plan_files, write_files

    project = str(tmp_path / "redis")
    write_files(project, plan_files(project, FILES))
    config_hash = files_hash(plan_files(project, FILES))
    doc = inspected()[0]
    doc["Config"]["Labels"][drift.HASH_LABEL] = config_hash
    doc["HostConfig"]["RestartPolicy"]["Name"] = "no"
    services = [{"name": "redis", "project": "aiplatform-redis"}]
    # nothing kept yet (deployed by an older release): only the label is compared, and it matches
    assert drift.on_disk(FakeDocker(), services, str(tmp_path), {"aiplatform-redis": [doc]}) == {}
    assert drift.remember(project, config_hash, specs()) is True
    assert drift.remember(project, config_hash, specs()) is False  # unchanged: not written again
    assert os.stat(os.path.join(project, drift.MODELS_FILE)).st_mode & 0o777 == 0o600
    out = drift.on_disk(FakeDocker(), services, str(tmp_path), {"aiplatform-redis": [doc]})
    assert fields(out["redis"]) == [("restart", "unless-stopped", "no")]
    # a container from another version of the files: the label says so, even without specs for it
    bad = copy.deepcopy(doc)
    bad["Config"]["Labels"][drift.HASH_LABEL] = "0123456789abcdef"
    os.remove(os.path.join(project, drift.MODELS_FILE))
    assert fields(drift.on_disk(FakeDocker(), services, str(tmp_path), {"aiplatform-redis": [bad]})["redis"]) == [
        ("config hash", config_hash[:12], "0123456789ab")]


def test_only_the_last_few_models_are_kept(tmp_path):
    for i in range(5):
        drift.remember(str(tmp_path), f"hash{9 - i}", {"services": {"n": i}})  # newest last, whatever the names
    assert list(drift.load_models(str(tmp_path))) == ["hash7", "hash6", "hash5"]
