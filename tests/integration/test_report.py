"""Metrics, state store and the HTML report of a run; the report rendered in headless Chromium; ansible-runner."""
import glob
import json
import os
import re
import shutil
import subprocess

import pytest

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev

from .conftest import ROOT

OUTPUT = os.path.join(ROOT, "tests", "output")


@pytest.fixture(scope="module")
def reported(platform):
    first = platform.deploy()
    assert first.rc == 0, first.stdout[-3000:]
    run = platform.deploy(playbook="playbooks/report.yml", log_dir=first.log_dir)
    assert run.rc == 0, run.stdout[-3000:]
    return run


def test_metrics_are_computed_printed_and_written(reported):
    line = next(x for x in reported.log_lines if "] [run] deployment success rate" in x)
    assert "log consistency 100.0% ok" in line and "container uptime" in line
    metrics = json.load(open(os.path.join(reported.log_dir, "metrics.json")))["metrics"]
    assert metrics["deployment_success_rate"]["value"] == 1.0
    assert metrics["health_check_success_rate"]["total"] >= 3
    assert metrics["log_consistency"]["value"] == 1.0
    assert 0.99 <= metrics["container_uptime"]["value"] <= 1.0
    assert set(metrics["container_uptime"]["containers"]) >= {"aiplatform-postgres", "aiplatform-redis", "aiplatform-litellm"}


def test_status_of_a_fresh_deploy_warns_of_nothing_on_the_host(reported):
    # the link networks the services use are wanted, not spare (status once reported every one as ORPHANED)
    assert reported.of(ev.ORPHANED) == [] and [e for e in reported.events if e["service"] == "host"] == []


def test_state_store_has_each_service_running_with_history(reported):
    store = json.load(open(os.path.join(reported.log_dir, "state.json")))["services"]
    for name in ("postgres", "redis", "litellm"):
        entry = store[f"{name}@localhost"]
        assert entry["state"] == "running" and entry["history"][0]["state"] == "running"


def test_report_renders_in_headless_chromium_with_a_bar_per_service(platform, reported):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium package is needed (scripts/test.sh installs it)"
    deploy = platform.runs[0]
    run_id = deploy.events[0]["run_id"]  # the log directory also holds report.yml's own report
    page = os.path.join(deploy.log_dir, f"report-{run_id}.html")
    assert os.path.exists(page), glob.glob(os.path.join(deploy.log_dir, "report-*.html"))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={platform.base_dir}/chromium"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", f"file://{page}"], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    bars = re.findall(r"class=\"bar[^\"]*\" data-service=\"([a-z]+)\"", dom)
    assert sorted(bars) == ["litellm", "postgres", "redis"]
    assert "deployment success rate" in dom
    os.makedirs(OUTPUT, exist_ok=True)
    shot = os.path.join(OUTPUT, "report.png")
    subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1200,900", f"file://{page}"],
                   capture_output=True, timeout=120, check=True)
    assert os.path.getsize(shot) > 10000


def test_site_through_ansible_runner_shows_the_service_events(platform, reported):
    import ansible_runner

    private = os.path.join(platform.base_dir, "runner")
    log_dir = os.path.join(platform.base_dir, "runner-log")
    os.makedirs(os.path.join(private, "env"))
    result = ansible_runner.run(
        private_data_dir=private, project_dir=ROOT, playbook=os.path.join(ROOT, "playbooks", "site.yml"),
        inventory=os.path.join(ROOT, "inventories", "lab"), quiet=True,
        # the module's platform, re-run (not the inventory's default of nine services deployed cold on top of it)
        extravars={"aiplatform_base_dir": platform.base_dir, "aiplatform_services": platform.services},
        envvars={"ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"), "AIPLATFORM_LOG_DIR": log_dir,
                 "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".collections")})
    assert result.status == "successful", result.stdout.read()[-3000:]
    events = list(result.events)
    lines = "\n".join(e.get("stdout", "") for e in events)
    assert re.search(r"\[INFO\] \[litellm\] healthy(, unchanged| after)", lines)
    waits = [e for e in events if e.get("event") == "runner_on_ok"
             and (e.get("event_data", {}).get("task_action") or "").endswith("deploy_platform")]
    assert waits and any(x["type"] == ev.HEALTH_SUCCESS for w in waits for x in w["event_data"]["res"].get("events", []))
    # the run's outcome per host in the job's artifacts (set_stats), what an AWX workflow branches on
    stats = next(e for e in events if e.get("event") == "playbook_on_stats")["event_data"].get("artifact_data") or {}
    outcome = stats["aiplatform_result"]["localhost"]
    assert sorted(outcome["healthy"]) == sorted(platform.services) and outcome["failed"] == [], outcome
    assert outcome["rolled_back"] == [] and outcome["models_missing"] == []
