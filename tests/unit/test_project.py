"""ProjectDeployer with a recorded-behaviour fake of the docker CLI (no engine needed)."""
import json
import os

from ansible_collections.aiplatform.stack.plugins.module_utils import compose
from ansible_collections.aiplatform.stack.plugins.module_utils import project as project_module
from ansible_collections.aiplatform.stack.plugins.module_utils.deploy_step import run_step
from ansible_collections.aiplatform.stack.plugins.module_utils.project import ProjectDeployer
from ansible_collections.aiplatform.stack.plugins.module_utils.project_files import diff_of, plan_files


def present_many(projects, pull, networks, check_mode=False, run=None):
    """Several projects in one deploy step (as the scheduler sends them), results in input order with `name`."""
    part = "check" if check_mode else "up"
    request = {part: [dict(p, service=p["name"]) for p in projects], "pull": pull, "networks": networks}
    out = run_step(request, check_mode=check_mode, run=run)[part]
    return [dict(out[p["name"]], name=p["name"]) for p in projects]


FILES = {"compose.yml": {"content": "services:\n  a:\n    image: x:1\n", "mode": "0644"},
         "a.env": {"content": "PASSWORD=topsecret-value\n", "mode": "0600"}}


class FakeDocker:
    """Answers the compose calls the deployer makes; records them."""

    def __init__(self, valid=True, running_hash=None):
        self.calls = []
        self.valid = valid
        self.running_hash = running_hash

    def __call__(self, argv, env=None):
        self.calls.append((argv, dict(env or {})))
        args = [a for a in argv if a not in ("docker", "compose")]
        if "config" in args and "--format" in args:
            return (0, '{"services": {"a": {"image": "x:1"}}}', "") if self.valid else \
                (1, "", '{"error":true,"message":"yaml: line 2: bad"}')
        if "config" in args and "--services" in args:
            return 0, "a\n", ""
        if "ps" in args:
            if self.running_hash is None:
                return 0, "", ""
            return 0, json.dumps({"Service": "a", "State": "running", "ExitCode": 0,
                                  "Labels": f"{compose.HASH_LABEL}={self.running_hash}"}), ""
        if "up" in args:
            self.running_hash = env[compose.HASH_ENV]
            return 0, "", '{"id":"Container p-a-1","status":"Started"}\n'
        return 0, "", ""

    def verbs(self):
        return [next(a for a in argv if a in ("config", "ps", "up", "pull", "network", "image")) for argv, dummy in self.calls]


def test_first_deploy_validates_then_writes_then_starts(tmp_path):
    fake = FakeDocker()
    d = str(tmp_path / "p")
    result = ProjectDeployer(fake, d, "p").present(FILES)
    assert result["changed"] and result["started"] == ["p-a-1"]
    assert fake.verbs()[0] == "config"  # validation of the staged copy comes first
    assert "up" in fake.verbs()
    assert os.stat(os.path.join(d, "a.env")).st_mode & 0o777 == 0o600


def test_second_deploy_is_a_noop_with_two_calls(tmp_path):
    fake = FakeDocker()
    d = str(tmp_path / "p")
    ProjectDeployer(fake, d, "p").present(FILES)
    fake.calls.clear()
    result = ProjectDeployer(fake, d, "p").present(FILES)
    assert result["changed"] is False
    assert fake.verbs() == ["config", "ps"]


def test_invalid_config_changes_nothing_on_the_host(tmp_path):
    fake = FakeDocker()
    d = str(tmp_path / "p")
    ProjectDeployer(fake, d, "p").present(FILES)
    before = open(os.path.join(d, "compose.yml")).read()
    bad = dict(FILES, **{"compose.yml": {"content": "services: [\n", "mode": "0644"}})
    fake.valid = False
    fake.calls.clear()
    result = ProjectDeployer(fake, d, "p").present(bad)
    assert result["failed"] and result["category"] == "config"
    assert open(os.path.join(d, "compose.yml")).read() == before
    assert "up" not in fake.verbs()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".stage-")]  # staging removed


def test_changed_file_changes_the_hash_and_redeploys(tmp_path):
    fake = FakeDocker()
    d = str(tmp_path / "p")
    first = ProjectDeployer(fake, d, "p").present(FILES)
    changed = dict(FILES, **{"a.env": {"content": "PASSWORD=other-value-123\n", "mode": "0600"}})
    second = ProjectDeployer(fake, d, "p").present(changed)
    assert second["config_hash"] != first["config_hash"]
    assert second["changed"] and second["changed_files"] == ["a.env"] and second["drift"] == ["a"]


def test_check_mode_touches_nothing(tmp_path):
    fake = FakeDocker()
    d = str(tmp_path / "p")
    result = ProjectDeployer(fake, d, "p", check_mode=True).present(FILES)
    assert result["changed"] and not os.path.exists(d)
    assert "up" not in fake.verbs()


def test_diff_hides_private_files(tmp_path):
    plan = plan_files(str(tmp_path), FILES)
    diff = diff_of(plan)
    text = json.dumps(diff)
    assert "topsecret-value" not in text
    assert "private file, sha256" in text
    assert any(d["after"].startswith("services:") for d in diff)


def test_a_change_keeps_the_previous_version_and_previous_restores_it(tmp_path):
    fake = FakeDocker()
    d = str(tmp_path / "p")
    ProjectDeployer(fake, d, "p").present(FILES)
    good_hash = fake.running_hash
    broken = dict(FILES, **{"compose.yml": {"content": "services:\n  a:\n    image: x:2\n", "mode": "0644"}})
    ProjectDeployer(fake, d, "p").present(broken)
    assert open(os.path.join(d, ".previous", "compose.yml")).read() == FILES["compose.yml"]["content"]
    assert os.stat(os.path.join(d, ".previous", "a.env")).st_mode & 0o777 == 0o600
    result = ProjectDeployer(fake, d, "p").previous()
    assert result["changed"] and fake.running_hash == good_hash
    assert open(os.path.join(d, "compose.yml")).read() == FILES["compose.yml"]["content"]
    assert not os.path.exists(os.path.join(d, ".previous"))  # one rollback, not a ping-pong
    assert ProjectDeployer(fake, d, "p").previous()["failed"]


def test_a_wave_of_projects_in_parallel_and_one_failure_stops_no_other(tmp_path):

    fake = FakeDocker()
    projects = [{"name": f"s{i}", "project_src": str(tmp_path / f"s{i}"), "project_name": f"s{i}", "files": FILES}
                for i in range(5)]
    projects[2]["files"] = {"../escape": {"content": "x", "mode": "0644"}}  # refused before anything is written
    out = present_many(projects, "never", [], run=fake)
    assert [o["name"] for o in out] == ["s0", "s1", "s2", "s3", "s4"]
    assert out[2]["failed"] and out[2]["category"] == "config"
    assert all(o["changed"] for i, o in enumerate(out) if i != 2)


def test_staging_creates_a_missing_base_directory(tmp_path):
    from ansible_collections.aiplatform.stack.plugins.module_utils import project_files

    project_dir = tmp_path / "fresh" / "base" / "svc"
    staged = project_files.stage(plan_files(str(project_dir), {"compose.yml": {"content": "name: x\n"}}), str(project_dir))
    assert (tmp_path / "fresh" / "base").is_dir() and open(os.path.join(staged, "compose.yml")).read() == "name: x\n"


def test_check_mode_on_a_fresh_host_creates_no_base_directory_and_still_validates(tmp_path, monkeypatch):
    import tempfile

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    fake = FakeDocker()
    base = tmp_path / "opt" / "aiplatform"
    result = ProjectDeployer(fake, str(base / "svc"), "p", check_mode=True).present(FILES)
    assert result["changed"] and not (tmp_path / "opt").exists()
    validated = [argv for argv, dummy in fake.calls if "config" in argv and "--format" in argv]
    assert validated and validated[0][validated[0].index("--project-directory") + 1].startswith(str(scratch))
    assert list(scratch.iterdir()) == []  # the staged copy is gone too


def test_check_mode_wave_creates_no_directory_and_no_network(tmp_path):

    fake = FakeDocker()
    base = tmp_path / "base"
    out = present_many([{"name": "a", "project_src": str(base / "a"), "project_name": "a", "files": FILES}],
                       "missing", ["aiplatform"], check_mode=True, run=fake)
    assert out[0]["changed"] and not base.exists()
    assert "network" not in fake.verbs() and "up" not in fake.verbs() and "pull" not in fake.verbs()


def test_recreate_values_of_docker_compose_v2_map_to_up_flags(tmp_path):
    d = str(tmp_path / "p")
    fake = FakeDocker()
    ProjectDeployer(fake, d, "p").present(FILES)
    fake.calls.clear()
    result = ProjectDeployer(fake, d, "p").present(FILES, recreate="always")
    assert result["actions"] == ["pull", "up --force-recreate"]
    changed = dict(FILES, **{"compose.yml": {"content": "services:\n  a:\n    image: x:2\n", "mode": "0644"}})
    fake.calls.clear()
    keep = FakeDocker(running_hash="an-older-hash")
    result = ProjectDeployer(keep, d, "p").present(changed, recreate="never")
    assert result["drift"] == [] and not any("up" in argv for argv, dummy in keep.calls)


def test_recreate_never_still_starts_a_missing_container(tmp_path):
    fake = FakeDocker()
    result = ProjectDeployer(fake, str(tmp_path / "p"), "p").present(FILES, recreate="never")
    ups = [argv for argv, dummy in fake.calls if "up" in argv]
    assert result["actions"][-1] == "up --no-recreate" and "--no-recreate" in ups[0]


def test_pull_policy_leaves_pulling_to_up(tmp_path):
    fake = FakeDocker()
    result = ProjectDeployer(fake, str(tmp_path / "p"), "p").present(FILES, pull="policy")
    assert "pull" not in fake.verbs() and result["actions"] == ["up --pull policy"]
    up = next(argv for argv, dummy in fake.calls if "up" in argv)
    assert up[up.index("--pull") + 1] == "policy"


def test_a_hash_label_set_by_hand_is_put_right_by_a_forced_recreate(tmp_path):
    # compose's own hash label matches (the container was copied with all its labels), so plain `up` leaves it
    class ComposeSeesNoChange(FakeDocker):
        def __call__(self, argv, env=None):
            if "up" in argv and "--force-recreate" not in argv:
                self.calls.append((argv, dict(env or {})))
                return 0, "", ""
            return super().__call__(argv, env)

    fake = ComposeSeesNoChange()
    d = str(tmp_path / "p")
    ProjectDeployer(FakeDocker(), d, "p").present(FILES)
    fake.running_hash = "handmade"
    result = ProjectDeployer(fake, d, "p").present(FILES)
    assert result["changed"] and "up --force-recreate a" in result["actions"]
    assert fake.running_hash == result["config_hash"]
    fake.calls.clear()
    assert ProjectDeployer(fake, d, "p").present(FILES)["changed"] is False  # converged: the next run is a no-op


def test_an_up_after_its_check_asks_compose_only_to_start(tmp_path):
    # the check step validated the same files: the up neither validates, nor looks for images, nor lists containers
    fake = FakeDocker()
    d = str(tmp_path / "p")
    checked = ProjectDeployer(fake, d, "p", check_mode=True).present(FILES, pull="missing")
    assert checked["validated"] == {"hash": checked["config_hash"], "services": ["a"], "images": ["x:1"]}
    fake.calls.clear()
    result = ProjectDeployer(fake, d, "p").present(FILES, pull="missing", networks=["aiplatform"],
                                                   validated=checked["validated"])
    assert result["changed"] and result["drift"] == ["a"]
    assert fake.verbs() == ["image", "network", "up"]  # images there (no pull), network there, up


def test_other_files_than_the_check_saw_are_validated_again(tmp_path):
    fake = FakeDocker()
    d = str(tmp_path / "p")
    checked = ProjectDeployer(fake, d, "p", check_mode=True).present(FILES)
    other = dict(FILES, **{"compose.yml": {"content": "services:\n  a:\n    image: x:2\n", "mode": "0644"}})
    fake.calls.clear()
    ProjectDeployer(fake, d, "p").present(other, pull="never", validated=checked["validated"])
    assert fake.verbs()[0] == "config"


def test_a_missing_image_fails_the_check_before_anything_changes(tmp_path):
    class NoImage(FakeDocker):
        def __call__(self, argv, env=None):
            if "image" in argv and "inspect" in argv:
                self.calls.append((argv, {}))
                return 1, "", "Error: No such image: x:1"
            return super().__call__(argv, env)

    fake = NoImage()
    d = str(tmp_path / "p")
    result = ProjectDeployer(fake, d, "p", check_mode=True).present(FILES, pull="never")
    assert result["failed"] and result["category"] == "image" and "x:1" in result["cause"]
    assert not os.path.exists(d) and "up" not in fake.verbs()


def test_absent_tries_down_again_when_the_engine_still_holds_an_endpoint_of_the_removed_containers(tmp_path, monkeypatch):
    # Seen in CI (engine 20.10): `compose down` removed the containers, then failed on the project's network:
    # "has active endpoints". The endpoint goes a moment later; a second `down` finishes the job.
    monkeypatch.setattr(project_module.time, "sleep", lambda seconds: None)
    d = str(tmp_path)
    open(os.path.join(d, "compose.yml"), "w").write(FILES["compose.yml"]["content"])
    downs = []

    def engine(argv, env=None):
        args = [a for a in argv if a not in ("docker", "compose")]
        if "ps" in args:
            return 0, "", ""
        if "down" in args:
            downs.append(args)
            if len(downs) == 1:
                return 1, "", ("failed to remove network p_default: Error response from daemon: error while removing "
                               "network: network p_default id 0123 has active endpoints")
            return 0, "", ""
        return 0, "", ""

    result = ProjectDeployer(engine, d, "p").absent(remove_volumes=True)
    assert result["changed"] and len(downs) == 2


def test_absent_still_fails_on_an_endpoint_that_never_goes(tmp_path, monkeypatch):
    monkeypatch.setattr(project_module.time, "sleep", lambda seconds: None)
    d = str(tmp_path)
    open(os.path.join(d, "compose.yml"), "w").write(FILES["compose.yml"]["content"])

    def engine(argv, env=None):
        if "down" in argv:
            return 1, "", "error while removing network: network p_default id 0123 has active endpoints"
        return 0, "", ""

    try:
        ProjectDeployer(engine, d, "p").absent(remove_volumes=True)
    except compose.ComposeError as exc:
        assert "active endpoints" in str(exc)
    else:
        raise AssertionError("a network that stays in use must fail the removal")
