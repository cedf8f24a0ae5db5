"""A tenth service touches only its own role: a fixture role (tests/unit/fixtures/roles/wiki) with a database, a
Redis user, a LiteLLM key, a proxy route and a first administrator of an existing kind is planned and rendered with
the nine and the proxy, and every provider picks it up from its declarations (plugin_utils/needs.py).

The plan is the real action (plan_platform) and the files are rendered as the deploy renders them
(plugin_utils/render.py); nothing runs on a host.
"""
import os

import pytest
import yaml
from ansible.module_utils.compat.version import LooseVersion
from ansible.parsing.dataloader import DataLoader
from ansible.release import __version__ as ansible_version
from ansible.template import Templar

from ansible_collections.aiplatform.stack.plugins.action import deploy_platform
from ansible_collections.aiplatform.stack.plugins.plugin_utils import catalog as cat
from ansible_collections.aiplatform.stack.plugins.plugin_utils import render, service_roles

from ..dependency_map import default_dependencies
from . import real_plan
from .render_roles import ROOT

# Outside a play, ansible-core 2.17 and 2.18's Templar turns a role variable that names another ("{{ proxy_https_port }}")
# into a string, which the plan rightly refuses as a port: there, the real plan is scripts/test-cores.sh's check-mode run.
pytestmark = pytest.mark.skipif(LooseVersion(ansible_version) < LooseVersion("2.19"),
                                reason="needs ansible-core 2.19's templating outside a play")

FIXTURE_ROLES = os.path.join(os.path.dirname(__file__), "fixtures", "roles")
NINE = real_plan.NINE
ENABLED = NINE + ["proxy", "wiki"]
GROUPS = real_plan.GROUPS


@pytest.fixture(autouse=True)
def fixture_roles(monkeypatch):
    """The fixture's roles folder beside the collection's (the collection's filters: tests/conftest.py)."""
    monkeypatch.setattr(service_roles, "ROLE_DIRS", [service_roles.ROLES, FIXTURE_ROLES])


def task_vars(**over) -> dict:
    return real_plan.task_vars(ENABLED, **over)


plan, secrets_of = real_plan.plan, real_plan.secrets_of


def rendered(tv: dict, facts: dict, name: str) -> dict:
    """{file: content} of one service, rendered as the deploy renders it."""
    loader = DataLoader()
    secrets = secrets_of(facts["aiplatform_catalog"])
    tv = dict(tv, **facts, aiplatform_secrets=secrets, hostvars={"h1": {"aiplatform_secrets": secrets}})
    files = render.render_service(Templar(loader=loader, variables=tv), loader, name, facts["aiplatform_catalog"][name],
                                  service_roles.render_variables(loader, tv))
    return {rel: f["content"] for rel, f in files.items()}


@pytest.fixture(scope="module")
def planned():
    """The plan of the whole platform with the fixture (module-scoped: the plan reads every role once)."""
    mp = pytest.MonkeyPatch()
    mp.setattr(service_roles, "ROLE_DIRS", [service_roles.ROLES, FIXTURE_ROLES])
    tv = task_vars()
    facts = plan(tv)
    yield tv, facts
    mp.undo()


def test_the_providers_serve_the_tenth_service_from_its_declarations(planned):
    tv, facts = planned
    catalog = facts["aiplatform_catalog"]
    # Redis: a user named after it, with the rules it declared, and a password of its own
    assert catalog["redis"]["acl_users"]["wiki"] == "~wiki:* &wiki:* +@all -@admin -@dangerous +info"
    assert "user_wiki" in catalog["redis"]["secrets"]
    acl = rendered(tv, facts, "redis")["users.acl"]
    wiki = next(line for line in acl.splitlines() if line.split()[1] == "wiki")
    assert wiki.endswith(" ~wiki:* &wiki:* +@all -@admin -@dangerous +info") and "wiki-" not in wiki
    assert [line.split()[1] for line in acl.splitlines()] == ["default", "admin", "dify", "litellm", "n8n",
                                                              "openwebui", "wiki"]
    # LiteLLM: a virtual key of its own, registered with the others'
    assert catalog["litellm"]["virtual_keys"]["applications"] == ["anythingllm", "openwebui", "wiki"]
    assert "key_wiki" in catalog["litellm"]["secrets"]
    secrets = secrets_of(catalog)
    keys = cat.virtual_keys(catalog, "litellm", "/s", GROUPS, {"h1": {"aiplatform_secrets": secrets}})
    assert {"alias": "wiki", "key": "litellm-key_wiki-0123456789abcdef", "models": ["llama3.2"]} in keys["applications"]
    # the proxy: a route on the hostname it declared, a link network to it, its certificate watched
    route = catalog["proxy"]["routes"]["wiki"]
    assert route["hostname"] == "docs.aiplatform.internal" and route["port"] == "http"
    assert route in catalog["proxy"]["connects_to"]
    assert "docs.aiplatform.internal" in catalog["proxy"]["certificates"]["hostnames"]
    caddyfile = rendered(tv, facts, "proxy")["Caddyfile"]
    assert '"https://docs.aiplatform.internal" {' in caddyfile and '"aiplatform-wiki:3300"' in caddyfile
    # PostgreSQL: its database, with its own password
    dbs = cat.app_databases(ENABLED, catalog, secrets)
    assert {"name": "wiki", "owner": "wiki", "password": "wiki-db_password-0123456789abcdef", "extensions": []} in dbs
    # the first administrator: the Flowise setup, which the stand-in models
    admin = deploy_platform.first_admin("wiki", catalog, "/s", GROUPS, {"h1": {"aiplatform_secrets": secrets}})
    assert admin["kind"] == "flowise" and admin["password"] == "wiki-admin_password-0123456789abcdef"
    # its own dependencies, without an entry in aiplatform_dependencies; started after LiteLLM
    assert facts["aiplatform_dependency_map"]["wiki"] == ["postgres", "redis", "litellm"]
    waves = facts["aiplatform_waves"]
    assert min(i for i, w in enumerate(waves) if "wiki" in w) > min(i for i, w in enumerate(waves) if "litellm" in w)


def test_the_tenth_service_is_rendered_with_what_the_providers_gave_it(planned):
    tv, facts = planned
    files = rendered(tv, facts, "wiki")
    env = files["wiki.env"]
    assert "REDIS_URL='redis://wiki:redis-user_wiki-0123456789abcdef@aiplatform-redis:6379/0'" in env
    assert "OPENAI_KEY='litellm-key_wiki-0123456789abcdef'" in env
    compose = yaml.safe_load(files["compose.yml"])
    wiki = compose["services"]["wiki"]
    assert wiki["environment"]["PUBLIC_URL"] == "https://docs.aiplatform.internal"
    assert set(compose["networks"]) == {"aiplatform-postgres.wiki", "aiplatform-redis.wiki", "aiplatform-litellm.wiki",
                                        "aiplatform-wiki.proxy"}


def test_without_the_tenth_service_the_providers_serve_the_nine_as_before():
    tv = task_vars(aiplatform_services=NINE + ["proxy"])
    catalog = plan(tv)["aiplatform_catalog"]
    assert list(catalog["redis"]["acl_users"]) == ["dify", "litellm", "n8n", "openwebui"]
    assert catalog["litellm"]["virtual_keys"]["applications"] == ["anythingllm", "openwebui"]
    assert list(catalog["proxy"]["routes"]) == ["dify", "n8n", "flowise", "anythingllm", "openwebui"]


def test_nothing_outside_the_fixture_role_names_the_tenth_service():
    # what a new service must not need: an edit to a provider's role, the plugins, the playbooks or the inventories
    for top in ("roles", "plugins", "playbooks", "inventories"):
        for folder, dummy, names in os.walk(os.path.join(ROOT, top)):
            for name in names:
                with open(os.path.join(folder, name), errors="replace") as fh:
                    assert "wiki" not in fh.read().lower(), os.path.join(folder, name)


def test_the_dependency_map_is_the_roles_own_and_an_inventory_entry_replaces_one(planned):
    tv, facts = planned
    assert tv["aiplatform_dependencies"] == {}  # the shipped default: every role's own depends_on
    roles = dict(default_dependencies(NINE + ["proxy"]), wiki=["postgres", "redis", "litellm"])
    assert facts["aiplatform_dependency_map"] == roles
    assert roles["n8n"] == ["postgres", "redis"] and roles["proxy"] == []
    over = plan(task_vars(aiplatform_dependencies={"n8n": ["postgres"]}))
    assert over["aiplatform_dependency_map"] == dict(roles, n8n=["postgres"])


def test_without_litellm_dify_and_flowise_neither_link_to_it_nor_wait_for_it():
    facts = plan(real_plan.task_vars(["postgres", "redis", "dify", "flowise"]))
    assert facts["aiplatform_dependency_map"]["dify"] == ["postgres", "redis"]
    assert facts["aiplatform_dependency_map"]["flowise"] == ["postgres", "redis"]
    assert "litellm" not in facts["aiplatform_host_plan"]["endpoints"]["dify"]
