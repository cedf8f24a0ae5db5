"""Networks follow the declared links: one network per link whose two ends run on one host (catalog.link_networks),
rendered into the compose files; cross-host links need none."""
import yaml

from ansible_collections.aiplatform.stack.plugins.plugin_utils import catalog as cat

from .render_roles import render


def svc(name, port=None, links=(), group="aiplatform", **extra):
    ports = [{"name": "main", "container": port, "published": None}] if port else []
    return dict({"name": name, "container": f"aiplatform-{name}", "host_group": group, "ports": ports,
                 "connects_to": [{"service": s, "port": "main"} for s in links]}, **extra)


CATALOG = {
    "postgres": svc("postgres", 5432),
    "redis": svc("redis", 6379),
    "ollama": svc("ollama", 11434),
    "litellm": svc("litellm", 4000, ["postgres", "redis", "ollama"]),
    "n8n": svc("n8n", 5678, ["postgres"]),
    "openwebui": svc("openwebui", 8080, ["postgres", "litellm"]),
    "dify": svc("dify", 80, ["postgres", "litellm"],
                link_containers=["aiplatform-dify-api", "aiplatform-dify-plugin-daemon"]),
}
ONE_HOST = {"aiplatform": ["h1"]}


def test_each_link_has_its_own_network_with_the_provider_aliased_by_its_name():
    plan = cat.link_networks(CATALOG, "h1", ONE_HOST, "aiplatform")
    assert plan["postgres"] == {"aiplatform-postgres": {
        "aiplatform-postgres.dify": ["postgres"], "aiplatform-postgres.litellm": ["postgres"],
        "aiplatform-postgres.n8n": ["postgres"], "aiplatform-postgres.openwebui": ["postgres"]}}
    assert plan["litellm"]["aiplatform-litellm"] == {
        "aiplatform-postgres.litellm": [], "aiplatform-redis.litellm": [], "aiplatform-ollama.litellm": [],
        "aiplatform-litellm.openwebui": ["litellm"], "aiplatform-litellm.dify": ["litellm"]}


def test_ollama_is_reached_by_litellm_alone_and_consumers_of_one_provider_share_no_network():
    plan = cat.link_networks(CATALOG, "h1", ONE_HOST, "aiplatform")
    assert plan["ollama"] == {"aiplatform-ollama": {"aiplatform-ollama.litellm": ["ollama"]}}
    joined = {name: {net for nets in containers.values() for net in nets} for name, containers in plan.items()}
    for a in joined:
        for b in joined:
            shared = joined[a] & joined[b]
            if a == b or not shared:
                continue
            # two services share a network only when one declares a link to the other
            linked = {link["service"] for link in CATALOG[a]["connects_to"]} | {
                link["service"] for link in CATALOG[b]["connects_to"]}
            assert {a, b} & linked and len(shared) == 1, (a, b, shared)


def test_a_service_of_several_containers_links_the_ones_that_open_connections():
    plan = cat.link_networks(CATALOG, "h1", ONE_HOST, "aiplatform")
    assert sorted(plan["dify"]) == ["aiplatform-dify-api", "aiplatform-dify-plugin-daemon"]
    assert plan["dify"]["aiplatform-dify-api"] == {"aiplatform-litellm.dify": [], "aiplatform-postgres.dify": []}


def test_links_across_hosts_need_no_network_here():
    catalog = dict(CATALOG, postgres=svc("postgres", 5432, group="data"), redis=svc("redis", 6379, group="data"))
    groups = {"aiplatform": ["apps"], "data": ["db"]}
    apps = cat.link_networks(catalog, "apps", groups, "aiplatform")
    assert "postgres" not in apps and not any("postgres" in net for c in apps.values() for nets in c.values()
                                              for net in nets)
    assert apps["litellm"]["aiplatform-litellm"] == {"aiplatform-ollama.litellm": [], "aiplatform-litellm.openwebui": ["litellm"],
                                                     "aiplatform-litellm.dify": ["litellm"]}
    assert cat.link_networks(catalog, "db", groups, "aiplatform") == {}  # the data host: published ports only
    assert cat.link_network_names(catalog, "db", groups, "aiplatform") == []
    assert cat.link_network_names(catalog, "apps", groups, "aiplatform") == [
        "aiplatform-litellm.dify", "aiplatform-litellm.openwebui", "aiplatform-ollama.litellm"]


def test_links_to_services_that_are_not_enabled_are_left_out_and_bad_ports_are_problems():
    catalog = {"n8n": svc("n8n", 5678, ["postgres"])}
    assert cat.link_networks(catalog, "h1", ONE_HOST, "aiplatform") == {}
    bad = dict(CATALOG, n8n=dict(svc("n8n", 5678), connects_to=[{"service": "postgres", "port": "sql"}, {"x": 1}]))
    problems = cat.link_problems(bad, list(bad))
    assert problems == ["n8n.connects_to[0]: postgres has no port named 'sql' (it has: main)",
                        "n8n.connects_to[1]: must be {service: <name>, port: <port name>}"]


def test_the_inventory_adds_links_and_a_custom_service_declares_its_own():
    catalog = {k: dict(v) for k, v in CATALOG.items()}
    catalog.update(cat.custom_services({"mytool": {"image": "x:1", "port": 9000,
                                                   "connects_to": [{"service": "postgres", "port": "main"}]}}, "/t"))
    assert cat.add_links(catalog, {"n8n": [{"service": "mytool", "port": "main"}], "nope": []}) == [
        "plan.aiplatform_extra_links.nope: not an enabled service; enable it or remove the entry"]
    plan = cat.link_networks(catalog, "h1", ONE_HOST, "aiplatform")
    assert plan["mytool"]["aiplatform-mytool"] == {"aiplatform-postgres.mytool": [], "aiplatform-mytool.n8n": ["mytool"]}
    assert not [p for p in cat.validate(catalog, list(catalog), ONE_HOST) if "connects_to" in p]


def test_a_link_the_service_is_healthy_without_is_not_a_wiring_check():
    catalog = dict(CATALOG, litellm=dict(CATALOG["litellm"], connects_to=[
        {"service": "postgres", "port": "main"}, {"service": "ollama", "port": "main", "checked": False}]))
    wires = cat.wiring(["litellm"], catalog, "h1", ONE_HOST, {})
    assert [e["name"] for e in wires[0]["endpoints"]] == ["postgres"]
    assert "aiplatform-ollama.litellm" in cat.link_network_names(catalog, "h1", ONE_HOST, "aiplatform")


def compose_of(role, catalog, **variables):
    service = dict(catalog[role], project=f"aiplatform-{role}", ports=[])
    text = render(role, "compose.yml.j2", aiplatform_catalog=catalog, inventory_hostname="h1", groups=ONE_HOST,
                  **{f"{role}_service": service, f"{role}_image": f"{role}:1", f"{role}_resources": {}}, **variables)
    return text, yaml.safe_load(text)


def test_the_compose_file_joins_the_link_networks_as_external_and_renders_the_same_twice():
    text, doc = compose_of("redis", CATALOG)
    assert doc["services"]["redis"]["networks"] == {"aiplatform-redis.litellm": {"aliases": ["redis"]}}
    assert doc["networks"] == {"aiplatform-redis.litellm": {"name": "aiplatform-redis.litellm", "external": True}}
    assert compose_of("redis", CATALOG)[0] == text  # stable: no churn, changed=0 on a second run


def test_a_one_shot_job_joins_no_network():
    catalog = dict(CATALOG, anythingllm=svc("anythingllm", 3001, ["litellm"]))
    text, doc = compose_of("anythingllm", catalog, anythingllm_litellm={"host": "aiplatform-litellm", "port": 4000},
                           anythingllm_model="m", anythingllm_model_token_limit=4096, anythingllm_extra_env={})
    assert doc["services"]["init_storage"]["network_mode"] == "none" and "networks" not in doc["services"]["init_storage"]
    assert doc["services"]["anythingllm"]["networks"] == {"aiplatform-litellm.anythingllm": {}}
