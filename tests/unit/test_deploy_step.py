"""The host side of a deploy step: when nothing is left to do, the no-op fast path may give the run lock back."""
from ansible_collections.aiplatform.stack.plugins.module_utils.deploy_step import settled

REQUEST = {"check": [{"service": "postgres"}, {"service": "ollama"}], "databases": {"when_ready": "postgres"},
           "models": [{"service": "ollama", "names": ["llama3.2"]}]}


def outcome(**over):
    out = {"check": {"postgres": {"changed": False}, "ollama": {"changed": False}},
           "probe": {"postgres": {"verdict": "ready"}, "ollama": {"verdict": "ready"}},
           "databases": {"ok": True, "changes": []}, "wiring": {"ollama": {"x": {"ok": True}}},
           "models": {"ollama": []}, "remote": {"redis": {"verdict": "ready"}}}
    out.update(over)
    return out


def test_settled_only_when_everything_is_unchanged_answering_wired_and_complete():
    assert settled(REQUEST, outcome())
    assert not settled(REQUEST, outcome(check={"postgres": {"changed": True}, "ollama": {"changed": False}}))
    assert not settled(REQUEST, outcome(probe={"postgres": {"verdict": "waiting"}, "ollama": {"verdict": "ready"}}))
    assert not settled(REQUEST, outcome(databases={"ok": False}))
    assert not settled(REQUEST, outcome(wiring={"ollama": {"x": {"ok": False}}}))
    assert not settled(REQUEST, outcome(models={"ollama": ["llama3.2"]}))
    assert not settled(REQUEST, outcome(models={}))  # not known: the pull step must look
    assert not settled(REQUEST, outcome(remote={"redis": {"verdict": "waiting"}}))
