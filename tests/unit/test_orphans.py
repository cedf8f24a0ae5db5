"""Orphans: the engine's listings (recorded, docker 20.10 `{{json .}}` shape) and the base directory against the
services the inventory enables on the host; removal only of what the orphans hold."""
import os

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.module_utils import orphans

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "engine")


def fixture(name):
    return open(os.path.join(FIXTURES, name)).read()


class FakeEngine:
    """Answers the three listings from the fixtures and records every call."""

    def __init__(self, fail=None):
        self.calls = []
        self.fail = fail

    def __call__(self, argv, env=None):
        self.calls.append(argv)
        if self.fail and self.fail in argv:
            return 1, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
        if argv[1] == "ps":
            return 0, fixture("ps_all.jsonl"), ""
        if argv[1:3] == ["volume", "ls"]:
            return 0, fixture("volume_ls.jsonl"), ""
        if argv[1:3] == ["network", "ls"]:
            return 0, fixture("network_ls.jsonl"), ""
        return 0, "", ""


def base_dir(tmp_path, *services):
    for name in services:
        (tmp_path / name).mkdir()
        (tmp_path / name / "compose.yml").write_text("services: {}\n")
    (tmp_path / "secrets").mkdir()  # no compose.yml: not a project
    (tmp_path / ".stage-x1").mkdir()
    return str(tmp_path)


def test_orphans_are_what_the_host_holds_for_services_not_enabled_here(tmp_path):
    fake = FakeEngine()
    found = orphans.scan(fake, base_dir(tmp_path, "redis", "ollama", "flowise"), enabled=["ollama", "dify"],
                         wanted_networks=["aiplatform"])
    assert len(fake.calls) == 3  # one listing each: containers, volumes, networks
    by_name = {o["service"]: o for o in found["services"]}
    assert sorted(by_name) == ["flowise", "n8n", "redis"]
    redis = by_name["redis"]
    assert redis["containers"] == [{"name": "aiplatform-redis", "state": "running", "status": "Up 2 hours",
                                    "image": "aiplatform-lab/redis:current"}]
    assert redis["ports"] == ["127.0.0.1:16379->6379/tcp"]
    assert redis["volumes"] == ["aiplatform_redis_data"]
    assert redis["networks"] == ["aiplatform"]
    assert redis["project_dir"] == os.path.join(str(tmp_path), "redis")
    # a volume left by an earlier teardown, a directory without containers: both count
    assert by_name["n8n"]["volumes"] == ["aiplatform_n8n_data"] and not by_name["n8n"]["containers"]
    assert by_name["flowise"]["project_dir"] and not by_name["flowise"]["volumes"]
    assert found["networks"] == []  # the enabled services' links need it


def test_other_compose_projects_are_never_orphans(tmp_path):
    found = orphans.scan(FakeEngine(), base_dir(tmp_path), enabled=[])
    names = {o["service"] for o in found["services"]}
    assert "web" not in names and "blog" not in names
    assert not [v for o in found["services"] for v in o["volumes"] if v == "blog_db"]
    assert found["networks"] == ["aiplatform"]  # nothing enabled here any more: the network is left over too


def test_a_service_of_several_containers_is_one_orphan_with_all_it_holds(tmp_path):
    found = orphans.scan(FakeEngine(), base_dir(tmp_path), enabled=["redis", "ollama"])
    dify = next(o for o in found["services"] if o["service"] == "dify")
    assert [c["name"] for c in dify["containers"]] == ["aiplatform-dify-init", "aiplatform-dify-nginx"]
    assert dify["ports"] == ["127.0.0.1:8081->80/tcp", "[::1]:8081->80/tcp"]


def test_nothing_orphaned_when_the_inventory_enables_everything_found(tmp_path):
    found = orphans.scan(FakeEngine(), base_dir(tmp_path, "redis"), enabled=["redis", "ollama", "dify", "n8n"],
                         wanted_networks=["aiplatform"])
    assert found == {"services": [], "networks": []}


def test_a_platform_network_no_link_here_needs_is_spare_even_with_services_enabled(tmp_path):
    # the one shared network of releases before 0.3, or the network of a link no longer declared
    found = orphans.scan(FakeEngine(), base_dir(tmp_path, "redis"), enabled=["redis", "ollama", "dify", "n8n"],
                         wanted_networks=["aiplatform-redis.n8n"])
    assert found == {"services": [], "networks": ["aiplatform"]}
    events = orphans.orphan_events(found)
    assert [(e["service"], e["networks"]) for e in events] == [("host", ["aiplatform"])]
    assert "aiplatform_orphans_only=true" in events[0]["message"]


def test_spare_networks_are_removed_one_by_one_and_one_in_use_is_kept():
    class InUse(FakeEngine):
        def __call__(self, argv, env=None):
            self.calls.append(argv)
            if argv[-1] == "aiplatform-redis.n8n":
                return 1, "", "Error response from daemon: error while removing network: network has active endpoints"
            return 0, "", ""
    fake = InUse()
    result = orphans.remove(fake, {"services": [], "networks": ["aiplatform", "aiplatform-redis.n8n"]})
    assert fake.calls == [["docker", "network", "rm", "aiplatform"], ["docker", "network", "rm", "aiplatform-redis.n8n"]]
    assert result["changed"] and result["removed"]["networks"] == ["aiplatform"]
    assert result["kept_networks"] == ["aiplatform-redis.n8n"]


def test_an_engine_that_does_not_answer_is_an_error_naming_the_listing(tmp_path):
    try:
        orphans.scan(FakeEngine(fail="volume"), str(tmp_path), enabled=[])
    except orphans.ScanError as exc:
        assert "docker volume ls" in str(exc) and "Cannot connect" in str(exc)
    else:
        raise AssertionError("no ScanError")


def test_one_warning_per_orphan_says_what_it_holds_and_how_to_remove_it(tmp_path):
    found = orphans.scan(FakeEngine(), base_dir(tmp_path, "redis"), enabled=["ollama", "dify", "n8n"],
                         wanted_networks=["aiplatform"])
    events = orphans.orphan_events(found)
    assert [(e["type"], e["level"], e["service"]) for e in events] == [(ev.ORPHANED, "WARN", "redis")]
    message = events[0]["message"]
    assert "aiplatform-redis (running)" in message and "127.0.0.1:16379->6379/tcp" in message
    assert "aiplatform_redis_data" in message and "aiplatform_remove_orphans=true" in message
    assert ev.LINE_RE.match(ev.format_line(events[0]))


def test_remove_takes_containers_and_keeps_volumes_unless_asked(tmp_path):
    base = base_dir(tmp_path, "redis")
    found = orphans.scan(FakeEngine(), base, enabled=["ollama", "dify"], wanted_networks=["aiplatform"])
    fake = FakeEngine()
    result = orphans.remove(fake, found)
    assert fake.calls == [["docker", "rm", "--force", "aiplatform-redis"]]  # one call, nothing else
    assert result["removed"]["volumes"] == [] and os.path.isdir(os.path.join(base, "redis"))

    fake = FakeEngine()
    result = orphans.remove(fake, found, remove_volumes=True)
    assert fake.calls[1] == ["docker", "volume", "rm", "aiplatform_n8n_data", "aiplatform_redis_data"]
    assert not os.path.exists(os.path.join(base, "redis")) and result["changed"]


def test_remove_in_check_mode_changes_nothing(tmp_path):
    found = orphans.scan(FakeEngine(), base_dir(tmp_path, "redis"), enabled=["ollama", "dify", "n8n"])
    fake = FakeEngine()
    result = orphans.remove(fake, found, remove_volumes=True, check_mode=True)
    assert result["removed"]["networks"] == ["aiplatform"]  # spare: no link here needs it
    assert result["changed"] and fake.calls == []
    assert result["removed"]["containers"] == ["aiplatform-redis"]
    assert orphans.remove(fake, {"services": [], "networks": []}) == {
        "changed": False, "removed": {"containers": [], "volumes": [], "project_dirs": [], "networks": []},
        "kept_networks": []}


def test_a_failed_removal_says_why():
    found = {"services": [{"service": "redis", "containers": [{"name": "aiplatform-redis"}], "volumes": [],
                           "project_dir": None}]}
    result = orphans.remove(FakeEngine(fail="rm"), found)
    assert result["failed"] and result["category"] == "engine" and "docker rm" in result["cause"]
