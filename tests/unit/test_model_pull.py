import json

from ansible_collections.aiplatform.stack.plugins.module_utils import model_pull


def lines(*docs):
    return [json.dumps(d).encode() + b"\n" for d in docs]


def test_missing_understands_the_implied_latest_tag():
    tags = {"models": [{"name": "llama3.2:latest"}, {"name": "nomic-embed-text:v1.5"}]}
    assert model_pull.missing(["llama3.2", "nomic-embed-text:v1.5", "qwen2.5:7b"], tags) == ["qwen2.5:7b"]
    assert model_pull.missing(["llama3.2:latest"], tags) == []


def test_a_finished_pull_is_done():
    out = model_pull.read_progress(lines({"status": "pulling manifest"}, {"status": "pulling x", "total": 10, "completed": 10},
                                         {"status": "success"}), budget=60)
    assert out == {"state": "done", "status": "success"}


def test_an_error_line_fails_the_pull():
    out = model_pull.read_progress(lines({"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}), 60)
    assert out["state"] == "failed" and "does not exist" in out["error"]


def test_the_budget_ends_a_step_with_the_progress_so_far():
    ticks = iter(range(100))
    docs = lines(*[{"status": "pulling abc", "total": 1000, "completed": 100 * i} for i in range(1, 10)])
    out = model_pull.read_progress(docs, budget=3, clock=lambda: next(ticks))
    assert out["state"] == "pulling" and out["total"] == 1000 and 0 < out["completed"] < 1000
    assert model_pull.percent(out) == f"{out['completed'] // 10}%"


def test_a_stream_that_ends_without_success_is_still_pulling():
    out = model_pull.read_progress(lines({"status": "verifying sha256 digest"}), 60)
    assert out["state"] == "pulling" and out["status"] == "verifying sha256 digest"
