"""The real plan (plan_platform's action) of the collection's roles on one host, outside a play: the catalog every
playbook's path renders from. Shared by the tests that hold those paths to one another."""
import os
import types

from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.template import Templar

from ansible_collections.aiplatform.stack.plugins.action import plan_platform
from ansible_collections.aiplatform.stack.plugins.plugin_utils import service_roles

NINE = ["postgres", "redis", "ollama", "litellm", "dify", "n8n", "flowise", "anythingllm", "openwebui"]
GROUPS = {"all": ["h1"], "aiplatform": ["h1"], "ungrouped": []}


def task_vars(enabled: list[str], **over) -> dict:
    """The pipeline role's defaults, one host h1, `enabled` services, over them `over`."""
    loader = DataLoader()
    platform = service_roles._load(loader, os.path.join(service_roles.ROLES, "aiplatform", "defaults", "main.yml"))
    out = dict(platform, inventory_hostname="h1", groups=GROUPS, ansible_play_hosts=["h1"], hostvars={"h1": {}},
               aiplatform_services=enabled, litellm_database_enabled=True, aiplatform_custom_services={},
               aiplatform_hardening_overrides={}, aiplatform_extra_links={})
    out.update(over)
    return out


def plan(tv: dict) -> dict:
    """The plan's facts (aiplatform_catalog, aiplatform_waves, aiplatform_dependency_map, ...) for `tv`."""
    loader = DataLoader()
    task = Task()
    task.action = "aiplatform.stack.plan_platform"
    task.args = {"services": tv["aiplatform_services"], "custom_services": tv["aiplatform_custom_services"],
                 "only": [], "dependencies": tv["aiplatform_dependencies"], "extra_links": {},
                 "strict_variables": True, "one_at_a_time": False}
    connection = types.SimpleNamespace(_shell=types.SimpleNamespace(tmpdir="/tmp"))
    action = plan_platform.ActionModule(task, connection, PlayContext(), loader, Templar(loader=loader), None)
    action.emit = lambda event: None
    result = action.run(task_vars=tv)
    assert not result.get("failed"), result.get("msg")
    return result["ansible_facts"]


def secrets_of(catalog: dict) -> dict:
    """A stand-in secrets file per service: every secret its description asks for, with a recognisable value."""
    return {name: {key: f"{name}-{key}-0123456789abcdef" for key in svc.get("secrets") or {}}
            for name, svc in catalog.items()}
