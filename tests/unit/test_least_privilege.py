"""Least privilege in the rendered files: Dify's sandbox behind its SSRF proxy, a Redis user per application."""
import hashlib

import pytest
import yaml

from ansible_collections.aiplatform.stack.plugins.filter import platform as filters
from ansible_collections.aiplatform.stack.plugins.module_utils import inputs, redis_acl
from ansible_collections.aiplatform.stack.plugins.plugin_utils import needs

from .render_roles import render
from .test_inputs import HOSTILE_VALUES, read_env_file

APPS = ("dify", "litellm", "n8n", "openwebui")
RULES = "~* &* +@all -@admin -@dangerous +info"
SECRETS = {"password": "defaultPW1", "admin_password": "adminPW2", **{f"user_{a}": f"{a}PW3" for a in APPS}}
REDIS = {"host": "aiplatform-redis", "port": 6379}
DIFY_SECRETS = ("secret_key", "init_password", "db_password", "plugin_db_password", "sandbox_key", "plugin_daemon_key", "plugin_inner_key",
                "weaviate_key")


def dify_vars(**extra):
    return dict({
        "dify_service": {"project": "aiplatform-dify",
                         "ports": [{"name": "http", "container": 80, "published": 8081, "bind": "127.0.0.1"}]},
        "dify_postgres": {"host": "aiplatform-postgres", "port": 5432}, "dify_redis": REDIS,
        "dify_database_name": "dify", "dify_plugin_database_name": "dify_plugin", "dify_vector_store": "pgvector",
        "dify_images": {k: f"img/{k}:1" for k in ("api", "web", "sandbox", "plugin_daemon", "ssrf_proxy", "nginx")},
        "dify_extra_env": {}, "dify_container_env": {}, "dify_resources": {}, "dify_ssrf_proxy_ports": [80, 443],
        "dify_redis_user": "dify", "dify_redis_password": SECRETS["user_dify"],
        "aiplatform_secrets": {"dify": {k: f"dify-{k}" for k in DIFY_SECRETS}},
    }, **extra)


# -- Dify's sandbox: an internal network, the proxy the only way out ---------------------------------------------------

@pytest.fixture(scope="module")
def dify_compose():
    return yaml.safe_load(render("dify", "compose.yml.j2", **dify_vars()))


def test_the_sandbox_is_on_the_internal_network_only(dify_compose):
    networks = dify_compose["networks"]
    assert networks["ssrf_proxy_network"]["internal"] is True
    assert dify_compose["services"]["sandbox"]["networks"] == {"ssrf_proxy_network": {"aliases": ["dify-sandbox"]}}


def test_the_proxy_goes_out_through_a_network_no_other_container_joins(dify_compose):
    services = dify_compose["services"]
    expected = {"ssrf_proxy_network": {"aliases": ["dify-ssrf-proxy"]}, "ssrf_proxy_egress": {}}
    assert services["ssrf_proxy"]["networks"] == expected
    assert "default" not in services["ssrf_proxy"]["networks"]
    assert not dify_compose["networks"]["ssrf_proxy_egress"].get("internal")
    assert [n for n, s in services.items() if "ssrf_proxy_egress" in s.get("networks", {})] == ["ssrf_proxy"]


def test_api_and_workers_reach_sandbox_and_proxy_and_the_plugin_daemon_stays_as_upstream(dify_compose):
    services = dify_compose["services"]
    for name in ("api", "worker", "worker_beat"):
        assert set(services[name]["networks"]) == {"default", "ssrf_proxy_network"}, name
        # the proxy's and the sandbox's names resolve on the internal network alone
        assert services[name]["networks"]["ssrf_proxy_network"] == {}, name
    assert set(services["plugin_daemon"]["networks"]) == {"default"}
    on_internal = sorted(n for n, s in services.items() if "ssrf_proxy_network" in s.get("networks", {}))
    assert on_internal == ["api", "sandbox", "ssrf_proxy", "worker", "worker_beat"]
    sandbox_env = services["sandbox"]["environment"]
    assert sandbox_env["HTTP_PROXY"] == sandbox_env["HTTPS_PROXY"] == "http://dify-ssrf-proxy:3128"


def test_a_service_without_links_keeps_its_own_project_network_with_its_alias():
    service = {"project": "aiplatform-redis", "container": "aiplatform-redis", "ports": []}
    text = render("redis", "compose.yml.j2", redis_service=service, redis_image="redis:7", redis_resources={})
    doc = yaml.safe_load(text)
    assert doc["services"]["redis"]["networks"] == {"default": {"aliases": ["redis"]}}
    assert "networks" not in doc  # no shared platform network any more (tests/unit/test_network_links.py)


def squid_conf(ports=(80, 443)):
    return render("dify", "squid.conf.j2", dify_ssrf_proxy_ports=list(ports))


def acl_values(conf, name):
    values = []
    for line in conf.splitlines():
        parts = line.split()
        if parts[:2] == ["acl", name]:
            values += parts[3:]
    return values


def test_squid_refuses_loopback_private_cgnat_and_link_local_destinations():
    blocked = set(acl_values(squid_conf(), "ssrf_blocked_dst"))
    assert {"0.0.0.0/8", "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
            "169.254.0.0/16", "::/128", "::1/128", "fc00::/7", "fe80::/10"} <= blocked
    access = [line.split(None, 1)[1] for line in squid_conf().splitlines() if line.startswith("http_access ")]
    # refusals come before the one allow, and everything else is refused
    assert access.index("deny ssrf_blocked_dst") < access.index("allow ssrf_clients")
    assert access.index("deny !ssrf_ports") < access.index("allow ssrf_clients")
    assert access.index("deny !ssrf_clients") < access.index("allow ssrf_clients")
    assert access[-1] == "deny all" and [a for a in access if a.startswith("allow")] == ["allow ssrf_clients"]


def test_squid_listens_only_on_its_internal_name_and_allows_80_and_443_unless_widened():
    conf = squid_conf()
    assert [line for line in conf.splitlines() if line.startswith("http_port")] == ["http_port dify-ssrf-proxy:3128"]
    assert acl_values(conf, "ssrf_ports") == ["80", "443"]
    assert acl_values(squid_conf([80, 443, 8443]), "ssrf_ports") == ["80", "443", "8443"]
    # no built-in ACL redefined (squid 5 and 6 predefine all, manager, localhost, to_localhost, CONNECT)
    assert not {line.split()[1] for line in conf.splitlines() if line.startswith("acl ")} & \
        {"all", "manager", "localhost", "to_localhost", "CONNECT"}


@pytest.mark.parametrize("ports, ok", [
    ([80, 443], True), (["8080"], True), ([65535], True),
    ([], False), ("80 443", False), ([0], False), ([65536], False), (["80\nhttp_access allow all"], False),
    (["1-65535"], False), ([True], False), ([80.5], False), ([None], False),
])
def test_proxy_ports_are_port_numbers_only(ports, ok):
    problems = inputs.service_input_problems("dify", {"inputs": {"ports": {"dify_ssrf_proxy_ports": ports}}})
    assert (problems == []) is ok, problems
    if not ok:
        assert problems[0].startswith("dify.dify_ssrf_proxy_ports: ")


# -- Redis: a user per application ---------------------------------------------------------------------------------

def test_acl_file_has_each_user_with_its_rules_and_only_hashed_passwords():
    users = dict.fromkeys(APPS, RULES)
    text = render("redis", "users.acl.j2", aiplatform_catalog={"redis": {"acl_users": users}},
                  aiplatform_secrets={"redis": SECRETS})
    lines = text.splitlines()
    assert [line.split()[1] for line in lines] == ["default", "admin", *sorted(APPS)]
    for line in lines:
        assert line.startswith("user ") and " nopass" not in line and ">" not in line
    for app in APPS:
        line = next(x for x in lines if x.split()[1] == app)
        digest = hashlib.sha256(SECRETS[f"user_{app}"].encode()).hexdigest()
        assert line == f"user {app} reset on #{digest} {RULES}"
    for value in SECRETS.values():
        assert value not in text
    default = lines[0].split()
    assert default[-2:] == ["nocommands", "+ping"] and "~*" not in default


@pytest.mark.parametrize("rules", [
    "~* >extra-password", "~* nopass", "~* off", "~* on", "~* #" + "0" * 64, "~* (+get ~x)", "~* reset",
    "~*\nuser evil on nopass +@all", "~* <gone", "", "~* resetpass", "+@all !" + "0" * 64,
])
def test_a_rule_that_could_change_a_password_or_add_a_user_is_rejected(rules):
    assert redis_acl.user_problems("redis_acl_users", {"dify": rules})
    with pytest.raises(redis_acl.AclError):
        redis_acl.acl_file({"dify": rules}, SECRETS)


@pytest.mark.parametrize("user", ["default", "admin", "Dify", "di fy", "dify\nuser x", "", "1app"])
def test_user_names_are_application_names(user):
    assert redis_acl.user_problems("redis_acl_users", {user: RULES})


def test_each_consumer_that_declares_a_redis_user_gets_one_and_the_inventory_overrides_its_rules():
    catalog = {"redis": {"name": "redis", "secrets": {"password": {"kind": "token", "length": 32}},
                         "acl": {"default_rules": RULES, "users": {"n8n": "~* +@all -@dangerous +keys", "tool": RULES},
                                 "secret": {"kind": "token", "length": 32}}},
               "n8n": {"name": "n8n", "redis_user": True}, "wiki": {"name": "wiki", "redis_user": {"rules": "~wiki:* +@all"}},
               "flowise": {"name": "flowise"}, "quiet": {"name": "quiet", "redis_user": None}}
    assert needs.provide(catalog, list(catalog)) == []
    redis = catalog["redis"]
    # the inventory's redis_acl_users: n8n's rules widened, a user added for a custom service (tool)
    assert redis["acl_users"] == {"n8n": "~* +@all -@dangerous +keys", "tool": RULES, "wiki": "~wiki:* +@all"}
    assert list(redis["secrets"]) == ["password", "user_n8n", "user_tool", "user_wiki"]
    assert redis["inputs"]["acl_users"] == {"redis_acl_users": redis["acl_users"]}


def test_a_declared_redis_rule_that_could_add_a_user_is_refused_naming_the_service():
    catalog = {"redis": {"name": "redis", "acl": {"default_rules": RULES}},
               "wiki": {"name": "wiki", "redis_user": {"rules": "~* nopass"}}}
    problems = needs.provide(catalog, ["redis", "wiki"])
    assert problems and problems[0].startswith("wiki.redis_user.rules: ") and "acl_users" not in catalog["redis"]


def test_ordinary_rules_pass():
    assert not redis_acl.user_problems("u", {"my-app": "~cache:* %R~ro:* &events:* +@read +get -@all +config|get "
                                                       "allkeys resetchannels"})


def test_the_plan_checks_acl_users_as_an_input():
    problems = inputs.service_input_problems("redis", {"inputs": {"acl_users": {"redis_acl_users": {"x": "nopass"}}}})
    assert problems and problems[0].startswith("redis.redis_acl_users.x: ")


def test_a_missing_generated_password_is_an_error_not_an_empty_line():
    with pytest.raises(redis_acl.AclError, match="user_n8n"):
        redis_acl.acl_file({"n8n": RULES}, {"password": "a", "admin_password": "b"})


@pytest.mark.parametrize("value", HOSTILE_VALUES[:8])
def test_redis_urls_percent_encode_user_and_password(value):
    from urllib.parse import unquote, urlsplit
    url = filters.redis_url(REDIS, "dify", value, 1)
    parts = urlsplit(url)
    assert (parts.hostname, parts.port, parts.path) == ("aiplatform-redis", 6379, "/1")
    assert unquote(parts.username) == "dify" and unquote(parts.password) == value


def test_dify_env_files_use_its_own_user():
    env = read_env_file(render("dify", "dify.env.j2", **dify_vars()))
    assert env["REDIS_USERNAME"] == "dify" and env["REDIS_PASSWORD"] == SECRETS["user_dify"]
    assert env["CELERY_BROKER_URL"] == f"redis://dify:{SECRETS['user_dify']}@aiplatform-redis:6379/1"
    plugin = read_env_file(render("dify", "plugin_daemon.env.j2", **dify_vars()))
    assert plugin["REDIS_USERNAME"] == "dify" and plugin["REDIS_PASSWORD"] == SECRETS["user_dify"]
    assert SECRETS["password"] not in render("dify", "dify.env.j2", **dify_vars())


def test_n8n_env_file_uses_its_own_user():
    env = read_env_file(render("n8n", "n8n.env.j2", n8n_queue_mode=True, n8n_redis_user="n8n",
                               n8n_redis_password=SECRETS["user_n8n"],
                               aiplatform_secrets={"n8n": {"encryption_key": "k", "db_password": "p"}}))
    assert env["QUEUE_BULL_REDIS_USERNAME"] == "n8n" and env["QUEUE_BULL_REDIS_PASSWORD"] == SECRETS["user_n8n"]


def test_openwebui_env_file_uses_its_own_user():
    env = read_env_file(render("openwebui", "openwebui.env.j2", openwebui_redis_enabled=True,
                               openwebui_database_enabled=False, openwebui_redis=REDIS, openwebui_redis_user="openwebui",
                               openwebui_redis_password=SECRETS["user_openwebui"], openwebui_litellm_key="sk-x",
                               aiplatform_secrets={"openwebui": {"secret_key": "s"}}))
    url = f"redis://openwebui:{SECRETS['user_openwebui']}@aiplatform-redis:6379/0"
    assert env["REDIS_URL"] == env["WEBSOCKET_REDIS_URL"] == url


def test_litellm_env_and_config_use_its_own_user():
    env = read_env_file(render("litellm", "litellm.env.j2", litellm_redis_enabled=True, litellm_database_enabled=False,
                               litellm_redis_user="litellm", litellm_redis_password=SECRETS["user_litellm"],
                               litellm_extra_secrets={},
                               aiplatform_secrets={"litellm": {"master_key": "sk-m", "salt_key": "sk-s"}}))
    assert env["REDIS_USERNAME"] == "litellm" and env["REDIS_PASSWORD"] == SECRETS["user_litellm"]
    config = yaml.safe_load(render("litellm", "config.yaml.j2", litellm_redis_enabled=True, litellm_models=[],
                                   litellm_database_enabled=False))
    assert config["litellm_settings"]["cache_params"]["username"] == "os.environ/REDIS_USERNAME"
