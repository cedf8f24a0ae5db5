import pytest

from ansible_collections.aiplatform.stack.plugins.plugin_utils import catalog

GROUPS = {"aiplatform": ["h1"], "data": ["db1"], "all": ["h1", "db1"]}


def svc(name, **kw):
    base = {"name": name, "type": "infrastructure", "container": f"aiplatform-{name}", "host_group": "aiplatform",
            "images": {name: f"{name}:1.2.3"}, "probe": {"type": "tcp", "port": 1},
            "ports": [{"name": "p", "container": 1, "published": None}]}
    base.update(kw)
    return base


def test_valid_catalog_has_no_problems():
    assert catalog.validate({"a": svc("a")}, ["a"], GROUPS) == []


@pytest.mark.parametrize("override, expected", [
    ({"images": {"a": "a:latest"}}, "a.images.a: 'a:latest' floats; pin a release tag in a_image"),
    ({"images": {"a": "a"}}, "floats"),
    ({"images": {"a": "Bad Image!"}}, "is not a valid image reference"),
    ({"type": "database"}, "a.type: 'database' is not one of"),
    ({"probe": {"type": "ping"}}, "a.probe.type: 'ping'"),
    ({"host_group": "nope"}, "host_group 'nope' is not an inventory group"),
    ({"ports": [{"name": "p", "container": 1, "published": 70000}]}, "not a port number"),
])
def test_problems_name_service_field_and_fix(override, expected):
    problems = catalog.validate({"a": svc("a", **override)}, ["a"], GROUPS)
    assert any(expected in p for p in problems), problems


def test_duplicate_published_port_on_one_host():
    cat = {"a": svc("a", ports=[{"name": "http", "container": 80, "published": 8080}]),
           "b": svc("b", ports=[{"name": "web", "container": 3000, "published": 8080}])}
    problems = catalog.validate(cat, ["a", "b"], GROUPS)
    assert problems == ["b.ports.web.published: port 8080 on h1 is also claimed by a.http; give one of them another port"]
    cat["b"]["host_group"] = "data"
    assert catalog.validate(cat, ["a", "b"], GROUPS) == []


def test_enabled_without_role():
    assert "no role describes it" in catalog.validate({}, ["ghost"], GROUPS)[0]


def test_endpoint_same_host_and_across_hosts():
    cat = {"pg": svc("pg", host_group="data", ports=[{"name": "pg", "container": 5432, "published": 15432}])}
    assert catalog.endpoint(cat, "pg", "pg", "db1", GROUPS, {}) == {"host": "aiplatform-pg", "port": 5432, "local": True}
    far = catalog.endpoint(cat, "pg", "pg", "h1", GROUPS, {"db1": {"ansible_host": "10.0.0.5"}})
    assert far == {"host": "10.0.0.5", "port": 15432, "local": False}
    cat["pg"]["ports"][0]["published"] = None
    with pytest.raises(catalog.ConfigError, match="must be published"):
        catalog.endpoint(cat, "pg", "pg", "h1", GROUPS, {})


def test_placed_on():
    cat = {"a": svc("a"), "b": svc("b", host_group="data")}
    assert catalog.placed_on(["a", "b"], cat, "h1", GROUPS) == ["a"]
    assert catalog.placed_on(["a", "b"], cat, "db1", GROUPS) == ["b"]


def test_a_port_served_by_another_container_of_the_service_is_reached_there():
    dify = svc("dify", ports=[{"name": "http", "container": 80, "container_name": "aiplatform-dify-nginx", "published": 8081}])
    assert catalog.endpoint({"dify": dify}, "dify", "http", "h1", GROUPS, {})["host"] == "aiplatform-dify-nginx"


def test_all_probes_need_a_target_and_a_plain_type():
    probe = {"type": "all", "probes": [{"target": "api", "type": "http", "port": 5001}, {"type": "tcp", "port": 1},
                                       {"target": "x", "type": "all"}]}
    problems = catalog.validate({"dify": svc("dify", probe=probe)}, ["dify"], GROUPS)
    assert [p.split(":")[0] for p in problems] == ["dify.probe.probes[1]", "dify.probe.probes[2]"]


def test_placed_on_any_of_several_hosts():
    cat = {"a": svc("a"), "b": svc("b", host_group="data")}
    assert catalog.placed_on(["a", "b"], cat, ["db1"], GROUPS) == ["b"]
    assert catalog.placed_on(["a", "b"], cat, ["db1", "h1"], GROUPS) == ["a", "b"]
    assert catalog.placed_on(["a", "b"], cat, [], GROUPS) == []
