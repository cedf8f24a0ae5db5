from ansible_collections.aiplatform.stack.plugins.module_utils import probes


def container(service, address="10.0.0.2"):
    return {"name": f"aiplatform-dify-{service}", "service": service, "address": address, "status": "running",
            "running": True, "oneshot": False, "restart_count": 0, "exit_code": 0, "health": None, "oom_killed": False}


def test_an_all_probe_is_ready_only_when_every_target_answers(monkeypatch):
    answers = {"10.0.0.1": (True, "HTTP 200"), "10.0.0.2": (False, "HTTP 503")}
    monkeypatch.setattr(probes, "http_probe", lambda probe, address: answers[address])
    svc = {"name": "dify", "probe": {"type": "all", "probes": [
        {"target": "api", "type": "http", "port": 5001}, {"target": "sandbox", "type": "http", "port": 8194}]}}
    containers = [container("api", "10.0.0.1"), container("sandbox", "10.0.0.2")]
    assert probes.probe_targets(None, svc, containers) == (False, "sandbox: HTTP 503")
    answers["10.0.0.2"] = (True, "HTTP 200")
    assert probes.probe_targets(None, svc, containers) == (True, "api: HTTP 200; sandbox: HTTP 200")


def test_an_all_probe_with_a_missing_container_waits(monkeypatch):
    monkeypatch.setattr(probes, "http_probe", lambda probe, address: (True, "HTTP 200"))
    svc = {"name": "dify", "probe": {"type": "all", "probes": [
        {"target": "api", "type": "http", "port": 5001}, {"target": "nginx", "type": "http", "port": 80}]}}
    ok, detail = probes.probe_targets(None, svc, [container("api")])
    assert not ok and detail == "nginx: probe target container not found"


def test_a_single_probe_targets_the_service_container(monkeypatch):
    monkeypatch.setattr(probes, "http_probe", lambda probe, address: (True, f"HTTP 200 from {address}"))
    svc = {"name": "n8n", "probe": {"type": "http", "port": 5678}}
    assert probes.probe_targets(None, svc, [dict(container("n8n"), service="n8n")]) == (True, "HTTP 200 from 10.0.0.2")
