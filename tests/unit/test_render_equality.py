"""One render for every playbook: each service of the real plan (the nine, the proxy and a custom service) is rendered
through the deploy's path (site.yml: deploy_platform), the upgrade's (upgrade.yml: the same action one service at a
time with rollback) and the recover's (recover.yml: recover_services reconfiguring it), from the same variables, and
the files each path hands to the host are identical, private ones included.

recover.yml once rendered without `aiplatform_render_service` (a custom service failed as `config`) and without the
host check's facts (Ollama lost its GPU reservation): a path that renders differently fails here. Nothing runs on a
host: the module calls are answered by fakes (tests/unit/action_harness.py).
"""
import os

import pytest
import yaml
from ansible.module_utils.compat.version import LooseVersion
from ansible.release import __version__ as ansible_version

from ansible_collections.aiplatform.stack.plugins.action import deploy_platform, recover_services

from . import real_plan
from .action_harness import run_action
from .render_roles import ROOT
from .test_action_deploy_platform import STEP, FakeDeployHost

pytestmark = pytest.mark.skipif(LooseVersion(ansible_version) < LooseVersion("2.19"),
                                reason="needs ansible-core 2.19's templating outside a play (see test_tenth_service)")

CUSTOM = {"echo": {"image": "lab/echo:1", "port": 8080, "published_port": 18080, "depends_on": ["redis"],
                   "environment": {"GREETING": "hello"}, "connects_to": [{"service": "redis", "port": "redis"}]}}
ENABLED = real_plan.NINE + ["proxy", "echo"]
# what the host check registers (prepare.yml), which a role reads: Ollama's GPU reservation
HOST_CHECK = {"aiplatform_host_check": {"engine": {"gpu": True}}}


@pytest.fixture(scope="module")
def variables():
    """The task variables every path sees: the defaults, the plan's facts, the host's secrets and host check."""
    tv = real_plan.task_vars(ENABLED, aiplatform_custom_services=CUSTOM, **HOST_CHECK)
    facts = real_plan.plan(tv)
    secrets = real_plan.secrets_of(facts["aiplatform_catalog"])
    return dict(tv, **facts, aiplatform_secrets=secrets, aiplatform_secrets_dir="/srv/aiplatform/secrets",
                hostvars={"h1": dict(HOST_CHECK, aiplatform_secrets=secrets)})


def files_of(args: dict) -> dict:
    return {"files": args.get("files"), "secret_files": args.get("secret_files")}


def deployed(tv: dict, **more) -> dict:
    """{service: the files the deploy's step is given for it}."""
    args = {"services": ENABLED, "catalog": tv["aiplatform_catalog"], "base_dir": "/srv/aiplatform",
            "dependencies": tv["aiplatform_dependency_map"], **more}
    result, host = run_action(deploy_platform, args, FakeDeployHost(), tv)
    assert not result.get("failed"), result.get("msg")
    out = {}
    for request in host.sent(STEP):
        for project in (request.get("check") or []) + (request.get("up") or []):
            out.setdefault(project["service"], files_of(project))
    return out


def recovered(tv: dict, monkeypatch) -> dict:
    """{service: the files recover.yml's reconfigure hands to compose_project}, every service found missing."""
    catalog = tv["aiplatform_catalog"]
    missing = {name: {"verdict": "waiting", "detail": "no container", "containers": []} for name in ENABLED}
    monkeypatch.setattr(recover_services, "probe_round", lambda action, task_vars, specs, baseline=None: missing)
    monkeypatch.setattr(recover_services, "wait_for",
                        lambda specs, probe, emit, **kw: {s["name"]: {"state": "healthy"} for s in specs})
    plan = tv["aiplatform_host_plan"]  # as recover.yml calls it: one graph, dependencies first
    args = {"services": [catalog[name] for name in plan["deploying"]], "dependencies": plan["dependencies"],
            "projects_dir": "/srv/aiplatform", "pull": "missing", "stable_seconds": 0}
    result, host = run_action(recover_services, args, lambda module, margs: {"changed": True}, tv)
    assert not result.get("failed"), result.get("msg")
    return {a["project_name"].removeprefix("aiplatform-"): files_of(a)
            for a in host.sent("aiplatform.stack.compose_project") if a.get("state") == "present"}


def test_deploy_upgrade_and_recover_render_every_service_identically(variables, monkeypatch):
    deploy = deployed(variables)
    upgrade = deployed(variables, serial=True, rollback=True)
    recover = recovered(variables, monkeypatch)
    assert sorted(deploy) == sorted(upgrade) == sorted(recover) == sorted(ENABLED)
    for name in ENABLED:
        assert deploy[name]["files"], name
        assert upgrade[name] == deploy[name], f"{name}: upgrade.yml renders it differently from site.yml"
        assert recover[name] == deploy[name], f"{name}: recover.yml renders it differently from site.yml"
    # the two facts recover.yml once rendered without are in what every path renders
    assert "lab/echo:1" in deploy["echo"]["files"]["compose.yml"]["content"]
    assert "nvidia" in deploy["ollama"]["files"]["compose.yml"]["content"]


def test_every_path_prepares_the_host_as_the_deploy_does_before_it_renders():
    """The variables above are what each playbook has when it renders: the plan's facts, then prepare.yml's (the
    host check, the secrets). recover.yml once skipped prepare.yml; upgrade.yml is the deploy's own tasks."""
    tasks = os.path.join(ROOT, "roles", "aiplatform", "tasks")

    def first_include(path):
        with open(path) as fh:
            first = yaml.safe_load(fh)[0]
        return first.get("ansible.builtin.include_tasks")

    assert first_include(os.path.join(tasks, "deploy.yml")) == first_include(os.path.join(tasks, "recover.yml")) \
        == "prepare.yml"
    with open(os.path.join(tasks, "prepare.yml")) as fh:
        assert any(t.get("register") == "aiplatform_host_check" for t in yaml.safe_load(fh))
    plays = {}
    for book in ("site.yml", "upgrade.yml", "recover.yml"):
        with open(os.path.join(ROOT, "playbooks", book)) as fh:
            plays[book] = [t["ansible.builtin.include_role"] for t in yaml.safe_load(fh)[0]["tasks"]
                           if "ansible.builtin.include_role" in t]
    assert [r.get("tasks_from", "main") for r in plays["recover.yml"]] == ["plan", "recover"]
    for book in ("site.yml", "upgrade.yml"):  # the role's main: plan.yml, then deploy.yml
        assert [r.get("tasks_from", "main") for r in plays[book]] == ["main"], book
    with open(os.path.join(tasks, "main.yml")) as fh:
        assert [t["ansible.builtin.include_tasks"] for t in yaml.safe_load(fh)] == ["plan.yml", "deploy.yml"]
