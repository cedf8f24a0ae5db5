"""compose_project's action run on a fake host: the files it renders for the module, the deploy events it records."""
from ansible_collections.aiplatform.stack.plugins.action import compose_project

from .action_harness import events_of, run_action, types_of

MODULE = "aiplatform.stack.compose_project"


def templates(tmp_path, compose="services:\n  web:\n    image: {{ web_image }}\n"):
    (tmp_path / "compose.yml.j2").write_text(compose)
    (tmp_path / "env.j2").write_text("TOKEN={{ web_token }}\n")
    return {"compose.yml": {"src": str(tmp_path / "compose.yml.j2"), "mode": "0644"},
            "web.env": {"src": str(tmp_path / "env.j2"), "mode": "0600"}}


def deploy(tmp_path, answer, state="present", with_templates=True, **extra):
    args = {"service": "web", "project_src": f"{tmp_path}/web", "project_name": "aiplatform-web", "state": state, **extra}
    if with_templates:
        args["templates"] = templates(tmp_path)
    task_vars = {"inventory_hostname": "node1", "web_image": "lab/web:2", "web_token": "s3cret"}
    return run_action(compose_project, args, lambda name, module_args: answer, task_vars)


def test_templates_are_rendered_here_and_private_files_sent_apart_from_the_others(tmp_path):
    result, host = deploy(tmp_path, {"changed": True, "actions": ["web"]})
    (args,) = host.sent(MODULE)
    assert args["files"] == {"compose.yml": {"content": "services:\n  web:\n    image: lab/web:2\n", "mode": "0644"}}
    assert args["secret_files"] == {"web.env": {"content": "TOKEN=s3cret\n", "mode": "0600"}}
    # the action's own arguments do not reach the module
    assert "templates" not in args and "service" not in args
    assert args["project_src"] == f"{tmp_path}/web" and args["project_name"] == "aiplatform-web"


def test_files_given_as_content_are_sent_with_the_rendered_ones(tmp_path):
    given = {"extra.conf": {"content": "x = 1\n", "mode": "0644"}}
    result, host = deploy(tmp_path, {"changed": False}, files=given)
    (args,) = host.sent(MODULE)
    assert set(args["files"]) == {"compose.yml", "extra.conf"} and args["files"]["extra.conf"] == given["extra.conf"]


def test_a_changed_deploy_records_its_start_and_what_it_started_on_this_host(tmp_path):
    result, host = deploy(tmp_path, {"changed": True, "actions": ["web", "worker"], "changed_files": ["compose.yml"]})
    assert types_of(result) == ["DEPLOY_START", "DEPLOY_SUCCESS"]
    start, success = result["events"]
    assert start["service"] == "web" and "aiplatform-web on node1" in start["message"] and start["host"] == "node1"
    assert success["message"].startswith("started web, worker") and success["changed"] is True
    assert success["changed_files"] == ["compose.yml"]
    assert result["changed"] is True and not result.get("failed")


def test_an_unchanged_deploy_says_nothing_was_restarted(tmp_path):
    result, host = deploy(tmp_path, {"changed": False, "actions": []})
    (success,) = events_of(result, "DEPLOY_SUCCESS", "web")
    assert success["message"].startswith("unchanged, nothing restarted") and success["changed"] is False


def test_a_port_failure_is_said_as_a_port_conflict_with_its_advice_then_a_deploy_failure(tmp_path):
    result, host = deploy(tmp_path, {"failed": True, "category": "port", "cause": "port 8080 is already allocated",
                                     "advice": "free the port", "msg": "compose up failed"})
    assert types_of(result) == ["DEPLOY_START", "PORT_CONFLICT", "DEPLOY_FAIL"]
    conflict, fail = result["events"][1:]
    assert conflict["message"] == "port 8080 is already allocated; fix: free the port" and conflict["category"] == "port"
    assert fail["message"] == "[port] port 8080 is already allocated" and fail["category"] == "port"
    assert result["failed"] and result["service_failed"] is True


def test_a_failure_without_a_category_is_unknown_and_named_by_its_message(tmp_path):
    result, host = deploy(tmp_path, {"failed": True, "msg": "engine said no"})
    assert types_of(result) == ["DEPLOY_START", "DEPLOY_FAIL"]
    assert result["events"][-1]["message"] == "[unknown] engine said no"


def test_a_template_that_cannot_render_fails_as_config_naming_it_and_nothing_is_sent(tmp_path):
    args = {"service": "web", "project_src": f"{tmp_path}/web", "project_name": "aiplatform-web",
            "templates": templates(tmp_path, compose="{{ no_such_variable }}")}
    result, host = run_action(compose_project, args, lambda name, module_args: {"changed": True},
                              {"inventory_hostname": "node1", "web_token": "t"})
    assert host.calls == []
    assert result["failed"] and result["category"] == "config" and result["service_failed"] is True
    assert types_of(result) == ["DEPLOY_START", "CONFIG_INVALID", "DEPLOY_FAIL"]
    assert "compose.yml.j2" in result["events"][1]["message"] and "compose.yml.j2" in result["msg"]


def test_a_removal_records_what_it_removed_and_no_deploy_start(tmp_path):
    result, host = deploy(tmp_path, {"changed": True, "actions": ["container aiplatform-web removed"]},
                          state="absent", with_templates=False)
    assert host.sent(MODULE)[0]["state"] == "absent"
    assert types_of(result) == ["SERVICE_REMOVED"]
    assert result["events"][0]["message"] == "removed: container aiplatform-web removed"


def test_a_removal_that_found_nothing_records_nothing(tmp_path):
    result, host = deploy(tmp_path, {"changed": False}, state="absent", with_templates=False)
    assert result["events"] == [] and result["changed"] is False


def test_a_rollback_is_recorded_as_a_change_to_the_previous_version(tmp_path):
    result, host = deploy(tmp_path, {"changed": True}, state="previous", with_templates=False)
    (success,) = events_of(result, "DEPLOY_SUCCESS", "web")
    assert success["rollback"] is True and success["changed"] is True and "previous version" in success["message"]


def test_a_stop_that_changed_something_says_its_state_and_actions(tmp_path):
    result, host = deploy(tmp_path, {"changed": True, "actions": ["web"]}, state="stopped", with_templates=False)
    assert types_of(result) == ["DEPLOY_SUCCESS"] and result["events"][0]["message"] == "stopped: web"


def test_the_service_name_falls_back_to_the_project_name(tmp_path):
    args = {"project_src": f"{tmp_path}/web", "project_name": "aiplatform-web"}
    result, host = run_action(compose_project, args, lambda name, module_args: {"changed": False})
    assert {e["service"] for e in result["events"]} == {"aiplatform-web"}
