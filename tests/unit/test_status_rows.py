"""Status rows for drift and orphans: the service's line, then one line per difference or per thing it holds."""
from ansible_collections.aiplatform.stack.plugins.module_utils import drift
from ansible_collections.aiplatform.stack.plugins.plugin_utils import recovery as rc

ORPHAN = {"service": "ollama", "project": "aiplatform-ollama", "project_dir": "/opt/aiplatform/ollama",
          "containers": [{"name": "aiplatform-ollama", "state": "running", "status": "Up 2 hours",
                          "image": "ollama/ollama:0.12.11"}],
          "ports": ["127.0.0.1:11434->11434/tcp"], "volumes": ["aiplatform_ollama_data"], "networks": ["aiplatform"]}


def test_an_orphan_row_says_what_it_still_holds():
    row = rc.orphan_row(ORPHAN, "h1")
    assert row["state"] == rc.ORPHANED and row["containers"] == "1/1"
    assert row["ports"] == ["127.0.0.1:11434->11434/tcp"] and row["volumes"] == ["aiplatform_ollama_data"]
    table = rc.format_table([row]).splitlines()
    assert table[1].startswith("ollama ") and " ORPHANED " in table[1]
    assert table[2:] == ["         - container aiplatform-ollama: Up 2 hours (ollama/ollama:0.12.11)",
                         "         - port 127.0.0.1:11434->11434/tcp",
                         "         - volume aiplatform_ollama_data",
                         "         - directory /opt/aiplatform/ollama"]


def test_a_drift_row_lists_each_difference_under_the_service():
    diffs = [{"service": "redis", "container": "aiplatform-redis", "field": "restart", "expected": "unless-stopped",
              "found": "always"},
             {"service": "redis", "container": "aiplatform-redis", "field": "env", "expected": drift.NONE,
              "found": "DEBUG"}]
    row = rc.status_row("redis", "h1", {"detail": "PONG", "containers": []}, rc.DRIFT, None)
    row["details"] = [f"{d['container']}: {drift.describe(d)}" for d in diffs]
    lines = rc.format_table([row, rc.status_row("postgres", "h1", {"detail": "ok"}, rc.HEALTHY, None)]).splitlines()
    assert " DRIFT " in lines[1]
    assert lines[2:4] == ["          - aiplatform-redis: restart always (want unless-stopped)",
                          "          - aiplatform-redis: env DEBUG added"]
    assert lines[4].startswith("postgres ")  # rows without details: one line, as before


def test_the_url_column_names_https_for_the_proxy_and_the_bound_address_for_a_loopback_port():
    from ansible_collections.aiplatform.stack.plugins.action.platform_status import service_url

    proxy = {"probe": {"type": "http"}, "ports": [{"name": "https", "published": 443, "bind": "0.0.0.0"}]}
    assert service_url(proxy, "h1", {"h1": {"ansible_host": "10.0.0.5"}}) == "https://10.0.0.5:443"
    app = {"probe": {"type": "http"}, "ports": [{"name": "http", "published": 8080, "bind": "127.0.0.1"}]}
    assert service_url(app, "h1", {}) == "http://127.0.0.1:8080"
    redis = {"probe": {"type": "redis"}, "ports": [{"published": 6379, "bind": "127.0.0.1"}]}
    assert service_url(redis, "h1", {}) == "tcp://127.0.0.1:6379"
