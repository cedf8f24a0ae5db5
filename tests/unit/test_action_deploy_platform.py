"""deploy_platform's action run on a fake host: what it renders and sends to the deploy_step module for the services
placed here, how it waits for dependencies on other hosts, and the summary it returns.

The host answers every step at once (`FakeDeployHost`): a changed project comes up, every probe finds it ready.
"""
from ansible_collections.aiplatform.stack.plugins.action import deploy_platform

from .action_harness import events_of, run_action

STEP = "aiplatform.stack.deploy_step"
READY = {"verdict": "ready", "detail": "HTTP 200", "containers": []}


def service(tmp_path, name, compose=None, **more):
    """A service described as data, rendered from its own template (no role)."""
    src = tmp_path / f"{name}.yml.j2"
    src.write_text(compose or "services:\n  {{ aiplatform_render_service }}:\n    image: {{ images[aiplatform_render_service] }}\n")
    return {"name": name, "project": f"aiplatform-{name}", "container": f"aiplatform-{name}", "type": "application",
            "host_group": "aiplatform", "probe": {"type": "http", "port": 8080, "path": "/health"},
            "templates": {"compose.yml": {"src": str(src), "mode": "0644"}}, **more}


class FakeDeployHost:
    """Answers deploy_step requests: `changed` projects come up (or would, in the check), all probes are ready."""

    def __init__(self, changed=(), failing=None, check_answer=None, models=None):
        self.changed, self.failing = set(changed), dict(failing or {})
        self.check_answer, self.models = check_answer, models or {}

    def __call__(self, name, request):
        if "check" in request and self.check_answer is not None:
            return self.check_answer
        out = {"probe": {p["name"]: READY for p in request.get("probe") or []},
               "remote": {r["name"]: READY for r in request.get("remote") or []}}
        if "check" in request:
            out["check"] = {}
            for p in request["check"]:
                changed = p["service"] in self.changed
                out["check"][p["service"]] = {"changed": changed, "brought_up": changed and p.get("start_if_changed"),
                                              "actions": [p["service"]], "changed_files": ["compose.yml"] if changed else []}
            out["probe"] = {p["service"]: READY for p in request["check"]}
            out["models"] = self.models
        if "up" in request:
            out["up"] = {p["service"]: self.failing.get(p["service"]) or {"changed": True, "actions": [p["service"]]}
                         for p in request["up"]}
        return out


def deploy(tmp_path, catalog, deps, host=None, task_vars=None, check_mode=False, diff=False, **args):
    args = {"services": list(catalog), "catalog": catalog, "dependencies": deps, "base_dir": str(tmp_path / "srv"),
            **args}
    variables = {"inventory_hostname": "node1", "groups": {"aiplatform": ["node1"]},
                 "hostvars": {"node1": {}}, "aiplatform_services": [], "images": {"db": "lab/db:1", "app": "lab/app:2"},
                 **(task_vars or {})}
    return run_action(deploy_platform, args, host or FakeDeployHost(), variables, check_mode=check_mode, diff=diff)


def two(tmp_path, **app):
    return {"db": service(tmp_path, "db"), "app": service(tmp_path, "app", **app)}


def test_unchanged_services_that_answer_are_done_in_one_step_with_their_rendered_files(tmp_path):
    result, host = deploy(tmp_path, two(tmp_path), {"app": ["db"]}, parallel=4, pull="always")
    (request,) = host.sent(STEP)
    db, app = request["check"]
    assert app["service"] == "app" and app["project_name"] == "aiplatform-app"
    assert app["project_src"] == f"{tmp_path}/srv/app"
    assert app["files"] == {"compose.yml": {"content": "services:\n  app:\n    image: lab/app:2\n", "mode": "0644"}}
    assert app["probe"] == {"type": "http", "port": 8080, "path": "/health"}
    assert app["model"]["services"]["app"]["image"] == "lab/app:2"  # what drift is judged by, parsed here
    assert request["pull"] == "always" and request["parallel"] == 4 and request["networks"] == []
    assert result["healthy"] == ["db", "app"] and result["changed"] is False and result["steps"] == 1
    assert not result.get("failed") and result["failed_services"] == []


def test_a_changed_service_starts_once_its_dependency_is_healthy_and_the_run_is_a_change(tmp_path):
    result, host = deploy(tmp_path, two(tmp_path), {"app": ["db"]}, host=FakeDeployHost(changed={"db", "app"}))
    check = host.sent(STEP)[0]["check"]
    # what needs nothing is brought up by the check itself; the app waits for db
    assert check[0].get("start_if_changed") is True and "start_if_changed" not in check[1]
    ups = [r["up"] for r in host.sent(STEP) if "up" in r]
    assert [[p["service"] for p in up] for up in ups] == [["app"]]
    assert result["healthy"] == ["db", "app"] and result["changed"] is True
    assert result["services"]["app"] == {"state": "healthy", "changed": True, "category": "", "detail": ""}
    assert events_of(result, "DEPLOY_SUCCESS", "app")[0]["message"].startswith("started app")


def test_a_service_that_cannot_be_rendered_fails_as_config_alone_and_its_dependents_are_skipped(tmp_path):
    catalog = two(tmp_path, compose="{{ no_such_variable }}")
    catalog["ui"] = service(tmp_path, "ui")
    result, host = deploy(tmp_path, catalog, {"app": ["db"], "ui": ["app"]}, task_vars={"images": {
        "db": "lab/db:1", "ui": "lab/ui:1"}})
    assert [p["service"] for p in host.sent(STEP)[0]["check"]] == ["db"]  # app never sent, ui skipped at once
    app = result["services"]["app"]
    assert app["state"] == "failed" and app["category"] == "config" and "app.yml.j2" in app["detail"]
    assert result["services"]["ui"]["state"] == "skipped" and "depends on app" in result["services"]["ui"]["detail"]
    assert result["healthy"] == ["db"] and result["failed_services"] == ["app", "ui"]
    assert events_of(result, "DEPLOY_FAIL", "app")[0]["category"] == "config"


def test_services_placed_on_another_host_are_not_deployed_here(tmp_path):
    catalog = two(tmp_path)
    catalog["db"]["host_group"] = "data"
    catalog["db"]["ports"] = [{"name": "main", "container": 5432, "published": 15432}]
    catalog["db"]["probe"] = {"type": "tcp", "port": 5432}
    groups = {"aiplatform": ["node1"], "data": ["node2"]}
    hostvars = {"node1": {}, "node2": {"ansible_host": "10.0.0.2"}}
    result, host = deploy(tmp_path, catalog, {"app": ["db"]}, task_vars={"groups": groups, "hostvars": hostvars})
    request = host.sent(STEP)[0]
    assert [p["service"] for p in request["check"]] == ["app"]
    # the dependency there is waited for at its published endpoint, by its protocol's own readiness
    (remote,) = request["remote"]
    assert remote["name"] == "db" and remote["host"] == "10.0.0.2" and remote["port"] == 15432
    assert remote["probe"] == {"type": "tcp"}
    assert result["healthy"] == ["app"]


def test_a_dependency_on_another_host_without_a_published_port_fails_its_dependent_naming_the_fix(tmp_path):
    catalog = two(tmp_path)
    catalog["db"]["host_group"] = "data"
    groups = {"aiplatform": ["node1"], "data": ["node2"]}
    result, host = deploy(tmp_path, catalog, {"app": ["db"]}, task_vars={"groups": groups})
    app = result["services"]["app"]
    assert app["state"] == "failed" and app["category"] == "config"
    assert "db: runs on another host than its dependents" in app["detail"] and "db_published_port" in app["detail"]


def test_a_dependency_whose_host_dropped_out_skips_its_dependents_without_rendering_them(tmp_path):
    catalog = two(tmp_path)
    catalog["db"]["host_group"] = "data"
    groups = {"aiplatform": ["node1"], "data": ["node2"]}
    result, host = deploy(tmp_path, catalog, {"app": ["db"]}, task_vars={
        "groups": groups, "ansible_play_hosts_all": ["node1", "node2"], "ansible_play_hosts": ["node1"]})
    assert host.calls == []  # nothing left to deploy here
    assert result["services"]["app"]["state"] == "skipped" and "depends on db" in result["services"]["app"]["detail"]
    assert events_of(result, "DEPLOY_SKIPPED", "app")[0]["blocked_by"] == "db"


def test_the_run_lock_is_given_back_by_the_step_that_settles_the_run(tmp_path):
    settled = {"check": {"db": {"changed": False}, "app": {"changed": False}}, "probe": {"db": READY, "app": READY},
               "lock_released": True}
    result, host = deploy(tmp_path, two(tmp_path), {"app": ["db"]}, lock_run="run-42",
                          host=FakeDeployHost(check_answer=settled))
    assert host.sent(STEP)[0]["release_lock_if_settled"] == {"dir": str(tmp_path / "srv"), "run": "run-42"}
    assert result["lock_released"] is True


def test_check_mode_starts_nothing_and_holds_no_lock(tmp_path):
    result, host = deploy(tmp_path, two(tmp_path), {"app": ["db"]}, lock_run="run-42", check_mode=True,
                          host=FakeDeployHost(changed={"db", "app"}))
    (request,) = host.sent(STEP)
    assert "release_lock_if_settled" not in request
    assert not any(p.get("start_if_changed") for p in request["check"])
    assert {s["state"] for s in result["services"].values()} == {"would_change"} and result["changed"] is True


def test_a_step_killed_before_it_answered_fails_the_services_as_interrupted(tmp_path):
    result, host = deploy(tmp_path, two(tmp_path), {"app": ["db"]},
                          host=FakeDeployHost(check_answer={"failed": True, "rc": 137, "module_stderr": ""}))
    assert {s["category"] for s in result["services"].values()} == {"interrupted"}
    assert "killed (SIGKILL)" in result["services"]["db"]["detail"]


def test_a_healthy_service_with_models_it_lacks_is_handed_to_the_pull_step_with_its_container(tmp_path):
    catalog = two(tmp_path)
    catalog["db"]["models"] = {"port": 11434, "names": ["llama3"]}
    result, host = deploy(tmp_path, catalog, {"app": ["db"]}, host=FakeDeployHost(models={"db": ["llama3"]}))
    assert host.sent(STEP)[0]["models"] == [{"port": 11434, "names": ["llama3"], "service": "db"}]
    assert result["models"] == [{"service": "db", "container": "aiplatform-db", "port": 11434, "names": ["llama3"]}]


def test_the_diff_of_the_rendered_files_is_returned_only_when_asked_for(tmp_path):
    diff = [{"before": "a\n", "after": "b\n", "before_header": "compose.yml", "after_header": "compose.yml"}]
    answer = {"check": {"db": {"changed": True, "diff": diff}, "app": {"changed": False}},
              "probe": {"app": READY}}
    with_diff, host = deploy(tmp_path, two(tmp_path), {"app": ["db"]}, check_mode=True, diff=True,
                             host=FakeDeployHost(check_answer=answer))
    assert with_diff["diff"][0]["before_header"] == "db/compose.yml"
    without, host = deploy(tmp_path, two(tmp_path), {"app": ["db"]}, check_mode=True,
                           host=FakeDeployHost(check_answer=answer))
    assert "diff" not in without


def postgres_and_app(tmp_path):
    catalog = {"postgres": service(tmp_path, "postgres", ports=[{"name": "main", "container": 5432, "published": 5432}],
                                   probe={"type": "postgres", "port": 5432}),
               "app": service(tmp_path, "app", database={"name": "appdb", "owner": "app"})}
    return catalog, {"app": ["postgres"]}


def test_postgres_here_is_told_the_databases_of_its_consumers_with_their_passwords(tmp_path):
    catalog, deps = postgres_and_app(tmp_path)
    secrets = {"aiplatform_secrets": {"app": {"db_password": "pw-app"}}}
    result, host = deploy(tmp_path, catalog, deps, task_vars={
        "hostvars": {"node1": secrets}, "postgres_admin_user": "pgadmin",
        "images": {"postgres": "postgres:16", "app": "lab/app:2"}})
    databases = host.sent(STEP)[0]["databases"]
    assert databases["container"] == "aiplatform-postgres" and databases["admin_user"] == "pgadmin"
    assert databases["databases"] == [{"name": "appdb", "owner": "app", "password": "pw-app", "extensions": []}]
    assert databases["when_ready"] == "postgres"


def test_postgres_on_another_host_is_ready_for_a_consumer_when_it_logs_in_to_its_own_database(tmp_path):
    catalog, deps = postgres_and_app(tmp_path)
    catalog["postgres"]["host_group"] = "data"
    groups = {"aiplatform": ["node1"], "data": ["node2"]}
    # the consumer's secrets are loaded on the host that runs it
    hostvars = {"node1": {"aiplatform_secrets": {"app": {"db_password": "pw"}}}, "node2": {"ansible_host": "10.0.0.2"}}
    result, host = deploy(tmp_path, catalog, deps, task_vars={"groups": groups, "hostvars": hostvars})
    (remote,) = host.sent(STEP)[0]["remote"]
    assert remote["probe"] == {"type": "postgres"} and remote["host"] == "10.0.0.2"
    assert remote["logins"] == [{"user": "app", "password": "pw", "database": "appdb"}]
