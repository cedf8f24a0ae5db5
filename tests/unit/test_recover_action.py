"""recover.yml's action (recover_services) run on a fake host: what it renders when it reconfigures a service.

The module calls are answered by a fake (`_execute_module`), the probes by a script; nothing runs on a host.
"""
import glob
import os
import re
import types

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.template import Templar

from ansible_collections.aiplatform.stack.plugins.action import recover_services
from ansible_collections.aiplatform.stack.plugins.plugin_utils import render

HEALTHY = {"verdict": "ready", "detail": "HTTP 200",
           "containers": [{"name": "aiplatform-echo", "status": "running", "restart_count": 0}]}


def custom_service(tmp_path):
    """A service described only as data (aiplatform_custom_services): its generic template finds its description
    through aiplatform_render_service, as roles/aiplatform/templates/custom_compose.yml.j2 does."""
    src = tmp_path / "custom_compose.yml.j2"
    src.write_text("{% set svc = aiplatform_catalog[aiplatform_render_service] %}"
                   "services:\n  {{ svc.name }}:\n    image: {{ svc.image }}\n")
    return {"name": "echo", "project": "aiplatform-echo", "image": "lab/echo:1",
            "templates": {"compose.yml": {"src": str(src), "mode": "0644"}}}


def recover(tmp_path, monkeypatch, svc, first_look):
    """Run the action on `svc` whose first probe says `first_look`; every later probe finds it healthy."""
    calls = []
    looks = iter([{svc["name"]: first_look}])
    monkeypatch.setattr(recover_services, "probe_round", lambda action, task_vars, specs, baseline=None:
                        next(looks, {svc["name"]: HEALTHY}))
    monkeypatch.setattr(recover_services, "wait_for", lambda specs, probe, emit, **kw: {svc["name"]: {"state": "healthy"}})
    loader = DataLoader()
    task = Task()
    task.action = "aiplatform.stack.recover_services"
    task.args = {"services": [svc], "projects_dir": str(tmp_path), "pull": "missing", "stable_seconds": 0}
    connection = types.SimpleNamespace(_shell=types.SimpleNamespace(tmpdir="/tmp"))
    action = recover_services.ActionModule(task, connection, PlayContext(), loader, Templar(loader=loader), None)

    def execute_module(module_name, module_args=None, task_vars=None, **kw):
        calls.append((module_name, module_args))
        return {"changed": True}
    action._execute_module = execute_module
    task_vars = {"inventory_hostname": "localhost", "aiplatform_services": [], "aiplatform_catalog": {svc["name"]: svc}}
    return action.run(task_vars=task_vars), calls


def test_reconfiguring_a_custom_service_renders_its_generic_template(tmp_path, monkeypatch):
    # recover.yml once rendered without aiplatform_render_service: the custom service failed as `config`
    svc = custom_service(tmp_path)
    result, calls = recover(tmp_path, monkeypatch, svc, {"verdict": "missing", "containers": []})
    assert not result.get("failed"), result
    assert result["services"]["echo"]["state"] == "recovered" and result["services"]["echo"]["action"] == "reconfigure"
    (name, args), = calls
    assert name == "aiplatform.stack.compose_project" and args["state"] == "present"
    assert args["files"]["compose.yml"]["content"] == "services:\n  echo:\n    image: lab/echo:1\n"
    assert args["project_src"] == f"{tmp_path}/echo" and args["project_name"] == "aiplatform-echo"


def test_recover_renders_what_the_deploy_renders(tmp_path, monkeypatch):
    # one render path for every playbook: the recover's files are the deploy's (render.render_service)
    svc = custom_service(tmp_path)
    loader = DataLoader()
    deployed = render.render_service(Templar(loader=loader), loader, "echo", svc,
                                     {"aiplatform_services": [], "aiplatform_catalog": {"echo": svc}})
    result, calls = recover(tmp_path, monkeypatch, svc, {"verdict": "missing", "containers": []})
    assert calls[0][1]["files"] == deployed


def test_a_healthy_service_is_left_alone(tmp_path, monkeypatch):
    svc = custom_service(tmp_path)
    result, calls = recover(tmp_path, monkeypatch, svc, HEALTHY)
    assert calls == [] and result["changed"] is False
    assert result["services"]["echo"] == {"state": "healthy", "attempts": 0}


def test_a_template_that_cannot_render_is_a_call_for_manual_action_naming_it(tmp_path, monkeypatch):
    svc = custom_service(tmp_path)
    (tmp_path / "custom_compose.yml.j2").write_text("{{ no_such_variable }}")
    result, calls = recover(tmp_path, monkeypatch, svc, {"verdict": "missing", "containers": []})
    assert result["failed"] and "echo" in result["msg"]
    needed = [e for e in result["events"] if e["type"] == "RECOVERY_NEEDED"]
    assert needed and needed[0]["category"] == "config" and "custom_compose.yml.j2" in needed[0]["message"]
    assert not [c for c in calls if c[1].get("state") == "present"]  # nothing brought up from a failed render


def registered(task_file):
    """The variables a task file of the pipeline role registers, following its include_tasks."""
    tasks_dir = os.path.join(os.path.dirname(__file__), "..", "..", "roles", "aiplatform", "tasks")
    names = set()
    for task in yaml.safe_load(open(os.path.join(tasks_dir, task_file))) or []:
        for inner in [task, *task.get("block", []), *task.get("always", []), *task.get("rescue", [])]:
            if inner.get("register"):
                names.add(inner["register"])
            include = inner.get("ansible.builtin.include_tasks")
            if include:
                names |= registered(include)
    return names


def read_by_role_vars():
    """The pipeline's registered results that a service role's vars/main.yml reads (aiplatform_host_check: the
    engine's GPU runtime, read by Ollama's)."""
    roles = os.path.join(os.path.dirname(__file__), "..", "..", "roles")
    text = "".join(open(p).read() for p in glob.glob(os.path.join(roles, "*", "vars", "main.yml")))
    return set(re.findall(r"\baiplatform_[a-z_]+\b", text)) & registered("deploy.yml")


def test_recover_registers_every_result_the_roles_render_with_as_the_deploy_does():
    # recover.yml once never registered aiplatform_host_check: a reconfigure rendered Ollama without its GPU
    wanted = read_by_role_vars()
    assert "aiplatform_host_check" in wanted
    assert wanted <= registered("recover.yml"), wanted - registered("recover.yml")


def test_a_refused_login_is_a_call_for_manual_action_naming_the_credential_and_nothing_is_restarted(
        tmp_path, monkeypatch):
    # Open WebUI's words for a wrong Redis password: its probe says only that Redis is not ready, its log says why
    svc = custom_service(tmp_path)
    refused = {"verdict": "waiting", "detail": "HTTP 503: Redis not ready",
               "containers": [{"name": "aiplatform-echo", "status": "running", "running": True, "restart_count": 0}],
               "logs": ["INFO boot", "ERROR Redis ping failed: auth:AuthenticationError"]}
    result, calls = recover(tmp_path, monkeypatch, svc, refused)
    assert calls == []  # no restart, recreate or reconfigure cures a wrong password
    assert result["failed"] and result["services"]["echo"]["state"] == "unhealthy"
    needed, = [e for e in result["events"] if e["type"] == "RECOVERY_NEEDED"]
    assert needed["category"] == "config"
    assert "redis refuses echo's login (ERROR Redis ping failed: auth:AuthenticationError)" in needed["message"]
    assert "user_echo in <aiplatform_secrets_dir>/redis.json" in needed["message"]
