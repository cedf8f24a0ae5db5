"""The whole platform on one host: all nine services (Dify's eight containers and its init job), in order, wired (the
shared deploy; the tests that change it put it back).

Real PostgreSQL (with pgvector), Redis, LiteLLM, n8n, Flowise, Open WebUI, nginx and squid; stand-ins for Ollama, Dify's
api, workers, web, sandbox and plugin daemon and AnythingLLM (lab/images/standin), each ready only while what it is
wired to answers with the credentials the roles gave it.
"""
import json
import os
import re
import urllib.error
import urllib.request

import pytest

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev

from ..dependency_map import default_dependencies
from .conftest import ROOT, SHARED_SERVICES, docker, wait_until

# the Open WebUI release the lab builds (tests/unit/test_pins.py keeps the role's pin on it)
OPENWEBUI_VERSION = re.search(r"^ARG OPEN_WEBUI_VERSION=(\S+)$", open(os.path.join(
    ROOT, "lab", "images", "openwebui", "Dockerfile")).read(), re.M).group(1)
DEPENDENCIES = default_dependencies()  # the roles' own depends_on


def psql(db, sql, user=None):
    admin = docker("exec", "aiplatform-postgres", "printenv", "POSTGRES_USER").stdout.strip()
    return docker("exec", "aiplatform-postgres", "psql", "-U", user or admin, "-d", db, "-Atc", sql, check=False)


@pytest.fixture(scope="module")
def whole(shared_platform):
    return shared_platform.get()[0]


@pytest.fixture(scope="module")
def runs(shared_platform, whole):
    first = shared_platform.get()[1]  # the shared platform's cold deploy
    started = {c: docker("inspect", "-f", "{{.State.StartedAt}}", c).stdout
               for c in docker("ps", "--format", "{{.Names}}").stdout.split() if c.startswith("aiplatform-")}
    second = whole.deploy()
    assert second.rc == 0, second.stdout[-5000:]
    out = os.path.join(os.path.dirname(os.path.dirname(__file__)), "output")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "platform_times.json"), "w") as fh:
        json.dump({"hosts": 1, "services": len(SHARED_SERVICES), "cold_s": round(first.seconds, 1),
                   "noop_s": round(second.seconds, 1)}, fh)
    return first, second, started


def test_every_service_is_healthy(runs):
    first = runs[0]
    assert sorted({e["service"] for e in first.of(ev.HEALTH_SUCCESS)}) == sorted(SHARED_SERVICES)
    assert not [e for e in first.events if e["level"] == "ERROR"]
    # Dify is healthy only when api, sandbox and plugin daemon answer and nginx serves
    detail = first.of(ev.HEALTH_SUCCESS, "dify")[0]["message"]
    for part in ("api: HTTP 200", "sandbox: HTTP 200", "plugin_daemon: HTTP 200", "nginx: HTTP 200"):
        assert part in detail
    # its one-shot permission job ran to completion (exit 0) and counts as success
    assert docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "aiplatform-dify-init").stdout.split() == ["exited", "0"]


def test_each_service_started_after_its_dependencies_were_healthy(runs):
    first = runs[0]
    healthy = {e["service"]: e["time"] for e in first.of(ev.HEALTH_SUCCESS)}
    start = {e["service"]: e["time"] for e in first.of(ev.DEPLOY_START)}
    for service, needs in DEPENDENCIES.items():
        for dep in needs:
            assert start[service] >= healthy[dep], (service, dep)
    # independent services start together (one compose call per wave)
    assert abs(start["dify"] - start["openwebui"]) < 1.0 and abs(start["redis"] - start["ollama"]) < 1.0


def test_second_run_changes_and_restarts_nothing(runs):
    second, started = runs[1], runs[2]
    assert second.recap()["changed"] == 0
    for container, when in started.items():
        assert docker("inspect", "-f", "{{.State.StartedAt}}", container).stdout == when, container
    assert not second.of(ev.MODEL_READY)


def test_one_database_and_role_per_application(runs):
    owners = dict(line.split("|") for line in psql("postgres", "SELECT datname, pg_get_userbyid(datdba) FROM pg_database").stdout.split())
    for db in ("dify", "dify_plugin", "n8n", "flowise", "openwebui"):
        assert owners.get(db) == db
    assert psql("dify", "SELECT extname FROM pg_extension WHERE extname = 'vector'").stdout.strip() == "vector"


def test_real_n8n_and_flowise_migrated_into_their_own_databases(runs):
    # The real programs created their tables in the databases the roles wired them to: our env names are theirs.
    n8n_tables = psql("n8n", "SELECT count(*) FROM pg_tables WHERE tableowner = 'n8n'").stdout.strip()
    flowise_tables = psql("flowise", "SELECT count(*) FROM pg_tables WHERE tableowner = 'flowise'").stdout.strip()
    assert int(n8n_tables) > 10 and int(flowise_tables) > 5, (n8n_tables, flowise_tables)


def test_encryption_keys_come_from_the_inventory_and_never_fight_it(whole, runs):
    secrets = {name[:-5]: json.load(open(os.path.join(whole.base_dir, "secrets", name)))
               for name in os.listdir(os.path.join(whole.base_dir, "secrets")) if name.endswith(".json")}
    # n8n writes its key file from N8N_ENCRYPTION_KEY on first start: the two agree
    config = json.loads(docker("exec", "aiplatform-n8n", "cat", "/home/node/.n8n/config").stdout)
    assert config["encryptionKey"] == secrets["n8n"]["encryption_key"]
    # Flowise keeps no key file of its own: the key comes from the environment
    assert docker("exec", "aiplatform-flowise", "test", "-e", "/home/node/.flowise/encryption.key", check=False).returncode != 0
    assert "ENABLE_PERSISTENT_CONFIG" in open(os.path.join(whole.base_dir, "openwebui", "compose.yml")).read()


def test_models_route_through_litellm_to_ollama(whole, runs):
    tags = json.loads(urllib.request.urlopen("http://127.0.0.1:11434/api/tags", timeout=5).read())
    assert [m["name"] for m in tags["models"]] == ["llama3.2"]
    assert runs[0].of(ev.MODEL_READY, "ollama")
    key = json.load(open(os.path.join(whole.base_dir, "secrets", "litellm.json")))["master_key"]
    req = urllib.request.Request("http://127.0.0.1:4000/v1/chat/completions",
                                 data=json.dumps({"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}).encode(),
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    answer = json.loads(urllib.request.urlopen(req, timeout=30).read())
    assert answer["choices"][0]["message"]["content"].startswith("stand-in answer")


# -- the real Open WebUI (lab/images/openwebui) ----------------------------------------------------------------------

def openwebui(path, token=None, body=None):
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(f"http://127.0.0.1:8080{path}", headers=headers,
                                 data=None if body is None else json.dumps(body).encode())
    return json.loads(urllib.request.urlopen(req, timeout=30).read())


def litellm_model_ids(whole):
    key = json.load(open(os.path.join(whole.base_dir, "secrets", "litellm.json")))["master_key"]
    req = urllib.request.Request("http://127.0.0.1:4000/v1/models", headers={"Authorization": f"Bearer {key}"})
    return sorted(m["id"] for m in json.loads(urllib.request.urlopen(req, timeout=10).read())["data"])


def ready(url):
    try:
        return urllib.request.urlopen(url, timeout=5).status == 200
    except (urllib.error.URLError, OSError):
        return False


def openwebui_model_ids(token):
    return sorted(m["id"] for m in openwebui("/api/models", token)["data"])


@pytest.fixture(scope="module")
def openwebui_admin(whole, runs):
    """The real Open WebUI's first administrator, made by the deploy: anonymous sign-up is refused, its stored
    credentials sign in (its token)."""
    try:
        answer = openwebui("/api/v1/auths/signup", body={"name": "x", "email": "visitor@lab.example",
                                                         "password": "Visitor-password-1"})
        pytest.fail(f"anonymous sign-up accepted: {answer.get('role')}")
    except urllib.error.HTTPError as exc:
        assert exc.code == 403, exc.code
    password = json.load(open(os.path.join(whole.base_dir, "secrets", "openwebui.json")))["admin_password"]
    answer = openwebui("/api/v1/auths/signin", body={"email": "admin@aiplatform.local", "password": password})
    assert answer["role"] == "admin", answer.get("role")
    return answer["token"]


def test_real_openwebui_is_the_pinned_release_and_migrated_into_its_own_database(runs):
    assert openwebui("/api/config")["version"] == OPENWEBUI_VERSION
    assert openwebui("/ready") == {"status": True}
    tables = psql("openwebui", "SELECT count(*) FROM pg_tables WHERE tableowner = 'openwebui'").stdout.strip()
    assert int(tables) > 20, tables
    assert psql("openwebui", "SELECT version_num FROM alembic_version").stdout.strip()


def test_real_openwebui_runs_its_websockets_through_redis(whole, runs):
    password = json.load(open(os.path.join(whole.base_dir, "secrets", "redis.json")))["user_openwebui"]
    cli = ["exec", "-e", f"REDISCLI_AUTH={password}", "aiplatform-redis", "redis-cli", "--user", "openwebui"]
    # python-socketio's Redis manager listens on its channel; Open WebUI keeps its state under its key prefix
    assert "socketio" in docker(*cli, "PUBSUB", "CHANNELS").stdout.split()
    assert [k for k in docker(*cli, "--scan", "--pattern", "open-webui:*").stdout.split() if k]


def test_real_openwebui_lists_the_models_litellm_gives_its_key(whole, openwebui_admin):
    assert openwebui_model_ids(openwebui_admin) == litellm_model_ids(whole) == ["llama3.2"]


def test_real_openwebui_started_offline_without_a_hub_download(runs):
    logs = docker("logs", "aiplatform-openwebui").stdout + docker("logs", "aiplatform-openwebui").stderr
    assert "huggingface.co" not in logs and "sentence_transformers" not in logs, logs[-3000:]
    models = docker("exec", "aiplatform-openwebui", "find", "/app/backend/data/cache", "-name", "*.safetensors",
                    "-o", "-name", "*.onnx", "-o", "-name", "pytorch_model.bin").stdout
    assert not models.strip(), models


def test_real_openwebui_takes_its_connection_from_the_environment_after_a_restart(whole, openwebui_admin):
    # A connection saved in its database (as an admin would in its settings) does not survive a restart:
    # ENABLE_PERSISTENT_CONFIG=False keeps the inventory the one source of truth.
    saved = {"ENABLE_OPENAI_API": True, "OPENAI_API_BASE_URLS": ["http://127.0.0.1:9/v1"],
             "OPENAI_API_KEYS": ["sk-nothing"], "OPENAI_API_CONFIGS": {}}
    openwebui("/openai/config/update", openwebui_admin, saved)
    assert openwebui_model_ids(openwebui_admin) == []
    docker("restart", "aiplatform-openwebui")
    wait_until(lambda: ready("http://127.0.0.1:8080/ready"), 120, "Open WebUI ready again after its restart")
    assert openwebui_model_ids(openwebui_admin) == litellm_model_ids(whole)


def test_dify_nginx_routes_console_api_and_web(runs):
    assert b"Dify (stand-in)" in urllib.request.urlopen("http://127.0.0.1:8081/", timeout=5).read()
    # /console/api goes to the api container (the stand-in answers 404 for unknown paths, as JSON)
    try:
        urllib.request.urlopen("http://127.0.0.1:8081/console/api/unknown", timeout=5)
    except urllib.error.HTTPError as exc:
        assert exc.code == 404 and b"not found" in exc.read()


def test_every_published_port_is_on_loopback_and_data_services_unpublished(runs):
    # the front door alone listens beyond this host, on its two ports (proxy_https_port, proxy_http_port)
    front_door = set()
    for line in docker("ps", "--format", "{{.Names}} {{.Ports}}").stdout.splitlines():
        name, dummy, ports = line.partition(" ")
        if name in ("aiplatform-postgres", "aiplatform-redis"):
            assert "->" not in ports, line
        for item in ports.split(", "):
            if "->" in item and name == "aiplatform-proxy" and not item.startswith("127.0.0.1:"):
                front_door.add(item)
            elif "->" in item:
                assert item.startswith("127.0.0.1:"), line
    assert front_door <= {"0.0.0.0:443->443/tcp", "0.0.0.0:80->80/tcp", ":::443->443/tcp", ":::80->80/tcp"}, front_door


def test_wrong_wiring_fails(whole, runs):
    # Open WebUI given a wrong LiteLLM key: its stand-in (the real one would be ready, with no models) is refused by
    # the real LiteLLM and never becomes ready.
    run = whole.deploy({"aiplatform_only": ["openwebui"], "openwebui_backoff": {"deadline": 8},
                        "openwebui_image": "aiplatform-lab/standin:current",
                        "openwebui_extra_env": {"OPENAI_API_KEY": "sk-wrong", "STANDIN_SERVICE": "openwebui",
                                                "STANDIN_PORT": "8080", "STANDIN_READY_PATHS": "/ready",
                                                "STANDIN_READY_BODY": '{"status":true}',
                                                "STANDIN_PG_URL_ENV": "DATABASE_URL", "STANDIN_REDIS_URL_ENV": "REDIS_URL",
                                                "STANDIN_OPENAI_VARS": "base=OPENAI_API_BASE_URL,key=OPENAI_API_KEY"}})
    assert run.rc != 0
    timeouts = run.of(ev.HEALTH_TIMEOUT, "openwebui")
    # LiteLLM refuses the key (it answers 400 or 401 for a key it does not know)
    assert timeouts and "4000/v1/models: HTTP Error 40" in timeouts[0]["message"], timeouts
    # the previous, correctly wired version was brought back at once
    assert "rolled back" in " ".join(e["message"] for e in run.events if e["service"] == "openwebui")
    back = whole.deploy({"aiplatform_only": ["openwebui"]})
    assert back.rc == 0 and back.of(ev.HEALTH_SUCCESS, "openwebui")


def test_subset_deploys_its_dependencies_first(whole, runs):
    run = whole.deploy({"aiplatform_only": ["anythingllm"]})
    assert run.rc == 0
    assert sorted({e["service"] for e in run.of(ev.DEPLOY_SUCCESS)}) == ["anythingllm", "litellm", "postgres", "redis"]


def test_subset_by_tags(whole, runs):
    run = whole.deploy("--tags=n8n")
    assert run.rc == 0, run.stdout[-3000:]
    assert sorted({e["service"] for e in run.of(ev.DEPLOY_SUCCESS)}) == ["n8n", "postgres", "redis"]


def test_status_table_lists_every_service_with_its_url(whole, runs):
    run = whole.deploy(playbook="playbooks/status.yml")
    assert run.rc == 0, run.stdout[-3000:]
    # the proxy's certificates have events of their own (state "certificate"), beside its row
    states = {e["service"]: e["state"] for e in run.of(ev.SERVICE_STATUS) if e["state"] != "certificate"}
    assert states == {s: "healthy" for s in SHARED_SERVICES}
    certificates = [e for e in run.of(ev.SERVICE_STATUS, "proxy") if e["state"] == "certificate"]
    assert certificates and all(e["level"] == "INFO" for e in certificates), certificates
    for url in ("http://127.0.0.1:8081", "http://127.0.0.1:5678", "http://127.0.0.1:3000", "http://127.0.0.1:8080"):
        assert url in run.stdout
    assert not run.of(ev.CONNECTIVITY_FAIL)


def test_teardown_keeps_every_volume_and_a_redeploy_finds_the_data(shared_platform):
    cycled = shared_platform.cycle()  # the shared platform's one teardown, purge and restore (test_first_admin's too)
    assert cycled.containers_left == []
    for volume in ("aiplatform_postgres_data", "aiplatform_n8n_data", "aiplatform_flowise_data", "aiplatform_dify_storage",
                   "aiplatform_ollama_data", "aiplatform_openwebui_data", "aiplatform_anythingllm_storage"):
        assert volume in cycled.volumes_left
    # the redeploy (after the purge, from the backup): same tables, same key (n8n would refuse to start on a key that
    # differs from its key file), models kept (the backup took them)
    assert int(cycled.n8n_tables) > 0
    assert psql("n8n", "SELECT count(*) FROM pg_tables WHERE tableowner = 'n8n'").stdout.strip() == cycled.n8n_tables
    assert cycled.up.of(ev.HEALTH_SUCCESS, "n8n") and not cycled.up.of(ev.MODEL_READY)


def test_model_pulls_report_progress_and_name_a_model_that_cannot_be_pulled(whole, runs):
    env = {"STANDIN_SERVICE": "ollama", "STANDIN_PORT": "11434", "STANDIN_OLLAMA": "1", "STANDIN_READY_PATHS": "/api/version",
           "STANDIN_READY_BODY": '{"version":"0.12.11"}', "STANDIN_PULL_SECONDS": "4"}
    run = whole.deploy({"aiplatform_only": ["ollama"], "ollama_extra_env": env, "ollama_pull_progress_seconds": 1,
                        "ollama_pull_timeout": 60,
                        "ollama_models": ["llama3.2", "qwen2.5:0.5b", "missing-model"]})
    assert run.rc != 0  # one model could not be pulled: the run says so
    progress = [e["message"] for e in run.of(ev.MODEL_PULL, "ollama")]
    assert any(m.startswith("model qwen2.5:0.5b: ") and m.endswith("%") for m in progress), progress
    assert [e["message"] for e in run.of(ev.MODEL_READY)] == ["model qwen2.5:0.5b pulled"]
    failed = run.of(ev.MODEL_PULL_FAIL, "ollama")
    assert failed and "missing-model" in failed[0]["message"] and "file does not exist" in failed[0]["message"]
    # llama3.2 was already there (kept in the volume across the recreate): not pulled again
    assert not [m for m in progress if "llama3.2" in m]


def test_gpu_profile_and_weaviate_render_in_check_mode(whole, runs):
    run = whole.deploy({"aiplatform_only": ["ollama", "dify"], "ollama_gpu": "always", "dify_vector_store": "weaviate"},
                       "--check", "--diff")
    assert "driver: nvidia" in run.stdout and "capabilities: [gpu]" in run.stdout
    assert "WEAVIATE_ENDPOINT" in run.stdout and "aiplatform-dify-weaviate" in run.stdout
    # check mode changed nothing on the host
    compose = open(os.path.join(whole.base_dir, "ollama", "compose.yml")).read()
    assert "nvidia" not in compose
