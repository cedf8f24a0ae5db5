"""ollama_models' action run on a fake host: it calls the module step after step until the models are there, failed,
or the deadline passed, with a progress event after each step."""
import types

from ansible_collections.aiplatform.stack.plugins.action import ollama_models

from .action_harness import events_of, run_action, types_of

MODULE = "aiplatform.stack.ollama_models"
ARGS = {"service": "ollama", "container": "aiplatform-ollama", "models": ["llama3", "qwen"], "timeout": 100}


def pull(monkeypatch, steps, args=None, seconds_per_step=1.0, **kw):
    """Run the action; the module answers `steps` in order, each taking `seconds_per_step` of a fake clock."""
    now = [0.0]

    def answer(name, module_args):
        now[0] += seconds_per_step
        return steps.pop(0)
    monkeypatch.setattr(ollama_models, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    return run_action(ollama_models, dict(ARGS if args is None else args), answer, **kw)


def step(missing, **progress):
    return {"missing": missing, "progress": progress}


def test_models_are_pulled_step_by_step_with_progress_then_ready(monkeypatch):
    result, host = pull(monkeypatch, [
        step(["llama3", "qwen"], llama3={"state": "pulling", "completed": 50, "total": 200},
             qwen={"state": "done"}),
        step(["llama3"], llama3={"state": "done"}),
        step([]),
    ])
    assert host.sent(MODULE)[0] == {"container": "aiplatform-ollama", "port": 11434, "models": ["llama3", "qwen"],
                                    "budget": 10.0}
    assert len(host.calls) == 3
    progress = events_of(result, "MODEL_PULL", "ollama")
    assert progress[0]["message"] == "model llama3: 25%" and progress[0]["completed"] == 50
    assert [e["message"] for e in events_of(result, "MODEL_READY")] == ["model qwen pulled", "model llama3 pulled"]
    assert result["pulled"] == ["qwen", "llama3"] and result["missing"] == ["llama3", "qwen"]
    assert result["changed"] is True and not result.get("failed") and result["failed_models"] == []


def test_a_pull_that_finished_between_steps_counts_as_pulled(monkeypatch):
    # its last step ended just before Ollama said "success": the next step finds it present
    result, host = pull(monkeypatch, [
        step(["llama3"], llama3={"state": "pulling", "completed": 199, "total": 200}),
        step([]),
    ], args=dict(ARGS, models=["llama3"]))
    assert result["pulled"] == ["llama3"] and events_of(result, "MODEL_READY")
    assert not result.get("failed")


def test_nothing_missing_is_one_call_and_no_change(monkeypatch):
    result, host = pull(monkeypatch, [step([])])
    assert len(host.calls) == 1 and result["changed"] is False and result["pulled"] == []


def test_a_failed_model_is_dropped_from_the_next_step_and_fails_the_task_naming_it(monkeypatch):
    result, host = pull(monkeypatch, [
        step(["llama3", "qwen"], llama3={"state": "failed", "error": "manifest unknown"},
             qwen={"state": "pulling", "completed": 1, "total": 2}),
        step(["llama3", "qwen"], qwen={"state": "done"}),
        step(["llama3"]),
    ])
    assert host.sent(MODULE)[1]["models"] == ["qwen"]
    (fail,) = events_of(result, "MODEL_PULL_FAIL")
    assert fail["message"] == "model llama3: manifest unknown" and fail["category"] == "image" and fail["model"] == "llama3"
    assert result["failed"] and result["failed_models"] == ["llama3"] and result["msg"] == "llama3: manifest unknown"
    assert result["pulled"] == ["qwen"] and result["changed"] is True


def test_models_not_pulled_by_the_deadline_fail_as_timeout_naming_them(monkeypatch):
    slow = [step(["llama3"], llama3={"state": "pulling", "completed": i, "total": 100}) for i in range(10)]
    result, host = pull(monkeypatch, slow, args=dict(ARGS, models=["llama3"], timeout=30), seconds_per_step=10.0)
    assert len(host.calls) == 3  # 10, 20, 30 s: the third step ends at the deadline
    (timeout,) = events_of(result, "MODEL_PULL_FAIL")
    assert timeout["category"] == "timeout" and "llama3" in timeout["message"] and "30 s" in timeout["message"]
    assert result["failed"] and result["failed_models"] == ["llama3"]
    assert result["msg"] == "llama3: not complete within the pull timeout"


def test_check_mode_looks_once_and_reports_the_missing_models_as_a_change(monkeypatch):
    result, host = pull(monkeypatch, [step(["qwen"]), step([])], check_mode=True)
    assert len(host.calls) == 1
    assert result["changed"] is True and result["missing"] == ["qwen"] and result["pulled"] == []


def test_a_module_failure_fails_the_task_with_its_message_and_category(monkeypatch):
    result, host = pull(monkeypatch, [{"failed": True, "msg": "ollama not reachable", "category": "dependency"}])
    (fail,) = events_of(result, "MODEL_PULL_FAIL", "ollama")
    assert fail["message"] == "ollama not reachable" and fail["category"] == "dependency"
    assert result["failed"] and result["msg"] == "ollama not reachable" and result["changed"] is False
    assert result["failed_models"] == ["llama3", "qwen"]
    assert types_of(result) == ["MODEL_PULL_FAIL"]
