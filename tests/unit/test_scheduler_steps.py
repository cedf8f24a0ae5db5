"""The deploy's later steps against the fake host: how the scheduler reads each answer (a step the host failed, an
answer that leaves a service out, stops and rollbacks that fail, databases made after PostgreSQL answered, links
checked later). Mutation testing (scripts/mutation.sh) found these unguarded."""
from __future__ import annotations

from .test_scheduler import first
from .test_scheduler_check import deploy

LOST = {"failed": True, "category": "connection", "msg": "ssh: connection lost"}


def fail_step_when(part):
    """An answer that fails, as a host that dropped the connection does, the first step asking for `part`."""
    seen: list[int] = []

    def answer(request, out):
        if part in request and "check" not in request and not seen:
            seen.append(1)
            return dict(LOST)
        return out
    return answer


def test_a_step_the_host_fails_fails_what_it_started_and_the_waits_in_it_go_on():
    specs = {"redis": {"ready_after": 1.0}, "ollama": {"ready_after": 3.0}, "n8n": {}, "dify": {}}
    deps = {"redis": [], "ollama": [], "n8n": ["redis"], "dify": ["redis"]}
    summary, events, host, dummy = deploy(specs, deps, fail_step_when("up"))
    failed_step = next(r for r in host.requests if "up" in r)
    assert {p["service"] for p in failed_step["up"]} == {"n8n", "dify"}
    for name in ("n8n", "dify"):
        assert summary["services"][name] == {"state": "failed", "changed": False, "category": "connection",
                                             "detail": "ssh: connection lost"}
    assert [p["name"] for p in failed_step["probe"]] == ["ollama"]
    assert any(e["type"] == "HEALTH_RETRY" and e["service"] == "ollama" and
               e["message"].startswith("not ready: ssh: connection lost;") for e in events)
    assert summary["healthy"] == ["redis", "ollama"]


def test_a_step_the_host_fails_without_saying_why_is_an_engine_failure_the_host_did_not_answer():
    def silent(request, out):
        return {"failed": True} if "up" in request else out
    summary, dummy, dummy2, dummy3 = deploy({"redis": {"running": True}, "n8n": {}}, {"redis": [], "n8n": ["redis"]},
                                            silent)
    assert summary["services"]["n8n"]["category"] == "engine"
    assert summary["services"]["n8n"]["detail"] == "the host did not answer"


def test_a_failed_step_that_should_have_stopped_a_crash_loop_fails_the_service_with_the_hosts_reason():
    summary, dummy, dummy2, dummy3 = deploy({"n8n": {"crash": True}}, {"n8n": []}, fail_step_when("stop"))
    assert summary["services"]["n8n"]["category"] == "connection"
    assert summary["services"]["n8n"]["detail"] == "ssh: connection lost"


def test_a_failed_step_that_should_have_rolled_back_fails_the_service_with_the_hosts_reason():
    summary, events, dummy, dummy2 = deploy({"litellm": {"crash": True, "previous_ready_after": 1.0}},
                                            {"litellm": []}, fail_step_when("previous"))
    assert summary["services"]["litellm"]["state"] == "failed"
    assert first(events, "DEPLOY_FAIL", "litellm")["message"] == "[connection] ssh: connection lost"


def test_a_failed_step_that_should_have_made_the_databases_fails_postgres():
    summary, events, dummy, dummy2 = deploy({"postgres": {}, "n8n": {}}, {"postgres": [], "n8n": ["postgres"]},
                                            fail_step_when("databases"))
    assert first(events, "DEPLOY_FAIL", "postgres")["message"] == \
        "[connection] application databases: ssh: connection lost"
    # its later answers do not make it healthy again: a service with a DEPLOY_FAIL ends failed, its consumers skipped
    assert summary["services"]["postgres"]["state"] == "failed"
    assert summary["services"]["n8n"]["state"] == "skipped"


def test_a_dependency_elsewhere_probed_in_a_failed_step_is_still_waited_for():
    remote = {"postgres": {"host": "10.0.0.5", "port": 5432, "probe": {"type": "tcp"},
                           "backoff": {"initial": 0, "base": 0.5, "factor": 2, "cap": 1, "deadline": 30}}}
    specs = {"redis": {"running": True}, "n8n": {}, "postgres": {"elsewhere": True, "remote_ready_at": 2.0},
             "dify": {}}
    deps = {"redis": [], "n8n": ["redis"], "dify": ["postgres"], "postgres": []}
    summary, events, dummy2, dummy = deploy(specs, deps, fail_step_when("remote"), remote=remote)
    assert any(e["service"] == "postgres" and e["type"] == "DEPENDENCY_WAIT" and "ssh: connection lost" in e["message"]
               for e in events)
    assert summary["services"]["dify"]["state"] == "healthy"


def test_a_crash_loop_that_could_not_be_stopped_says_why_and_one_stopped_says_its_volumes_are_kept():
    def refused(request, out):
        for p in request.get("stop") or []:
            out["stop"][p["service"]] = {"failed": True, "cause": "permission denied"}
        return out
    summary, events, dummy, dummy2 = deploy({"n8n": {"crash": True}}, {"n8n": []}, refused)
    said = [e for e in events if e["type"] == "RESTART_LOOP"][-1]
    assert said["message"] == "could not stop the crash loop: permission denied" and said["category"] == "crash_loop"
    assert summary["services"]["n8n"]["state"] == "failed" and summary["changed"] is True
    summary, events, dummy, dummy2 = deploy({"n8n": {"crash": True}}, {"n8n": []})
    said = [e for e in events if e["type"] == "RESTART_LOOP"][-1]
    assert said["message"] == "containers stopped to end the crash loop; volumes kept"


def test_a_crash_loop_whose_stop_the_host_does_not_answer_is_said_stopped():
    def quiet(request, out):
        if request.get("stop"):
            out.pop("stop")
        return out
    dummy, events, dummy2, dummy3 = deploy({"n8n": {"crash": True}}, {"n8n": []}, quiet)
    assert [e for e in events if e["type"] == "RESTART_LOOP"][-1]["message"] == \
        "containers stopped to end the crash loop; volumes kept"


def test_a_rollback_says_how_long_it_took_and_a_failed_one_says_its_cause_category_and_fix():
    specs = {"litellm": {"crash": True, "previous_ready_after": 1.0}}
    dummy, events, dummy2, dummy3 = deploy(specs, {"litellm": []})
    said = next(e for e in events if e.get("rollback"))
    assert said["message"] == "rolled back to the previous version (0.2 s)"
    assert said["changed"] is True and said["duration"] == 0.2

    def refused(request, out):
        for p in request.get("previous") or []:
            out["previous"][p["service"]] = {"failed": True, "category": "config", "cause": "no previous image",
                                             "advice": "pull it"}
        return out
    summary, events, dummy, dummy2 = deploy(specs, {"litellm": []}, refused)
    assert summary["services"]["litellm"] == {"state": "failed", "changed": True, "category": "config",
                                              "detail": "rollback failed: no previous image"}
    assert first(events, "CONFIG_INVALID", "litellm")["message"] == "rollback failed: no previous image; fix: pull it"


def test_a_rollback_the_host_does_not_answer_fails_as_unknown():
    def quiet(request, out):
        if request.get("previous"):
            out.pop("previous")
        return out
    summary, dummy, dummy2, dummy3 = deploy({"litellm": {"crash": True, "previous_ready_after": 1.0}},
                                            {"litellm": []}, quiet)
    assert summary["services"]["litellm"]["category"] == "unknown"
    assert summary["services"]["litellm"]["detail"] == "rollback failed: no answer"


def test_a_start_the_host_does_not_answer_fails_as_unknown_and_the_others_in_its_step_still_start():
    def quiet(request, out):
        if request.get("up"):
            out["up"].pop("n8n")
        return out
    specs = {"redis": {"running": True}, "n8n": {}, "dify": {}}
    summary, dummy2, host, dummy = deploy(specs, {"redis": [], "n8n": ["redis"], "dify": ["redis"]}, quiet)
    assert [p["service"] for p in next(r for r in host.requests if "up" in r)["up"]] == ["n8n", "dify"]
    assert summary["services"]["n8n"] == {"state": "failed", "changed": False, "category": "unknown",
                                          "detail": "no answer"}
    assert summary["healthy"] == ["redis", "dify"]


def test_a_start_failure_gives_its_cause_or_else_its_message_and_its_advice():
    def refused(request, out):
        if request.get("up"):
            out["up"]["n8n"] = {"failed": True, "category": "port", "cause": "port 5678 taken", "msg": "ignored",
                                "advice": "free the port"}
            out["up"]["dify"] = {"failed": True, "msg": "compose error"}
        return out
    specs = {"redis": {"running": True}, "n8n": {}, "dify": {}}
    summary, events, dummy, dummy2 = deploy(specs, {"redis": [], "n8n": ["redis"], "dify": ["redis"]}, refused)
    assert summary["services"]["n8n"]["detail"] == "port 5678 taken"
    assert first(events, "PORT_CONFLICT", "n8n")["message"] == "port 5678 taken; fix: free the port"
    assert summary["services"]["dify"]["category"] == "unknown"
    assert summary["services"]["dify"]["detail"] == "compose error"

    def bare(request, out):
        if request.get("up"):
            out["up"]["n8n"] = {"failed": True, "category": "config"}
        return out
    summary, events, dummy, dummy2 = deploy(specs, {"redis": [], "n8n": ["redis"], "dify": ["redis"]}, bare)
    assert summary["services"]["n8n"]["detail"] == "" and first(events, "CONFIG_INVALID", "n8n")["message"] == ""


def databases_only_when_asked_again(result_of):
    """A host that never has the databases ready in the step where PostgreSQL answers: they are made when asked on
    their own (`databases` without `when_ready`); result_of(n) is the answer to the n-th such request (None: none)."""
    asked: list[int] = []

    def answer(request, out):
        dbs = request.get("databases")
        if dbs and dbs.get("when_ready"):
            out.pop("databases", None)
        elif dbs:
            asked.append(request)
            got = result_of(len(asked))
            if got is None:
                out.pop("databases", None)
            else:
                out["databases"] = got
        return out
    return answer, asked


def test_postgres_whose_databases_are_made_only_when_asked_again_counts_healthy_once_they_are():
    answer, asked = databases_only_when_asked_again(lambda n: {"ok": True, "changes": ["created database n8n"]})
    summary, events, host, dummy = deploy({"postgres": {}, "n8n": {}}, {"postgres": [], "n8n": ["postgres"]}, answer)
    assert len(asked) == 1 and summary["healthy"] == ["postgres", "n8n"]
    made = next(i for i, r in enumerate(host.requests) if r is asked[0])
    assert not any(r.get("up") for r in host.requests[:made + 1])  # n8n waited for its database
    assert any(e.get("databases") and e["message"] == "application databases: created database n8n" for e in events)


def test_postgres_never_counts_healthy_while_the_host_leaves_its_databases_unanswered():
    answer, asked = databases_only_when_asked_again(lambda n: None)
    summary, dummy, host, dummy2 = deploy({"postgres": {}, "n8n": {}}, {"postgres": [], "n8n": ["postgres"]}, answer)
    assert asked and "postgres" not in summary["healthy"]
    assert not any(r.get("up") for r in host.requests)
    # the run ends with a verdict for each: PostgreSQL failed with the reason, its consumer skipped
    assert summary["services"]["postgres"]["state"] == "failed"
    assert summary["services"]["postgres"]["detail"] == "application databases: the host never answered"
    assert summary["services"]["postgres"]["category"] == "engine"
    assert summary["services"]["n8n"]["state"] == "skipped"


def test_postgres_whose_databases_are_refused_when_asked_again_fails():
    answer, dummy = databases_only_when_asked_again(
        lambda n: {"ok": False, "category": "config", "cause": "password refused"})
    summary, dummy, dummy2, dummy3 = deploy({"postgres": {}, "n8n": {}}, {"postgres": [], "n8n": ["postgres"]},
                                            answer)
    assert summary["services"]["postgres"]["state"] == "failed"
    assert summary["services"]["postgres"]["detail"] == "application databases: password refused"
    assert summary["services"]["n8n"]["state"] == "skipped"


def test_a_wait_probed_by_the_host_until_something_changes_is_said_to_probe_on():
    summary, events, dummy, dummy2 = deploy({"n8n": {"ready_after": 8.0}}, {"n8n": []})
    retries = [e for e in events if e["type"] == "HEALTH_RETRY"]
    assert retries and all(", probing on, " in e["message"] and e["next_delay"] == 0.0 for e in retries)
    assert summary["healthy"] == ["n8n"]


def test_a_service_or_a_dependency_elsewhere_the_host_leaves_out_of_its_answer_is_not_ready_with_no_answer():
    remote = {"postgres": {"host": "10.0.0.5", "port": 5432, "probe": {"type": "tcp"},
                           "backoff": {"initial": 0, "base": 0.5, "factor": 2, "cap": 1, "deadline": 30}}}
    left_out: list[int] = []

    def forgetful(request, out):
        if "check" not in request and not left_out:
            left_out.append(1)
            out["probe"].pop("n8n", None)
            out["remote"].pop("postgres", None)
        return out
    specs = {"n8n": {"ready_after": 2.0}, "dify": {}, "postgres": {"elsewhere": True, "remote_ready_at": 2.0}}
    summary, events, dummy, dummy2 = deploy(specs, {"n8n": [], "dify": ["postgres"], "postgres": []}, forgetful,
                                            remote=remote)
    assert any(e["type"] == "HEALTH_RETRY" and e["service"] == "n8n" and e["message"].startswith("not ready: no answer;")
               for e in events)
    waited = "dependency on another host: not ready: no answer;"
    assert any(e["type"] == "DEPENDENCY_WAIT" and e["message"].startswith(waited) for e in events)
    assert summary["healthy"] == ["n8n", "dify"]


def test_the_links_of_a_service_checked_after_its_dependency_elsewhere_is_back_can_fail_it():
    remote = {"litellm": {"host": "10.0.0.6", "port": 4000, "probe": {"type": "http"},
                          "backoff": {"initial": 0, "base": 0.5, "factor": 2, "cap": 1, "deadline": 60}}}
    specs = {"dify": {"running": True, "wired": True, "unwired": True},
             "litellm": {"elsewhere": True, "remote_ready_at": 5.0}}
    summary, events, dummy, dummy2 = deploy(specs, {"dify": ["litellm"], "litellm": []}, remote=remote)
    assert summary["services"]["dify"]["state"] == "failed"
    assert summary["services"]["dify"]["detail"] == "cannot reach postgres at postgres:5432"
    assert first(events, "CONNECTIVITY_FAIL", "dify")["t"] >= 5.0
