"""The host side of a deploy step: when nothing is left to do, the no-op fast path may give the run lock back."""
from ansible_collections.aiplatform.stack.plugins.module_utils import deploy_step
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


def test_a_probe_step_is_settled_only_when_every_service_it_probes_answers_and_nothing_starts():
    request = {"probe": [{"name": "flowise"}, {"name": "n8n"}], "admins": [{"service": "flowise"}],
               "wiring": [{"name": "flowise", "if_ready": True}]}
    done = outcome(check={}, models={}, probe={"flowise": {"verdict": "ready"}, "n8n": {"verdict": "ready"}},
                   admins={"flowise": {"ok": True}}, wiring={"flowise": {"postgres": {"ok": True}}})
    assert settled(request, done)
    assert not settled(request, dict(done, probe={"flowise": {"verdict": "ready"}, "n8n": {"verdict": "waiting"}}))
    assert not settled(request, dict(done, probe={"flowise": {"verdict": "ready"}}))  # no answer is not ready
    assert not settled(request, dict(done, admins={"flowise": {"ok": False}}))
    assert not settled(request, dict(done, wiring={"flowise": {"postgres": {"ok": False}}}))
    assert not settled(dict(request, up=[{"service": "dify"}]), done)


class FakeTime:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class NoJitter:
    @staticmethod
    def uniform(low: float, high: float) -> float:
        return high


def poll_with(answers, seconds=5.0, with_logs=False, monkeypatch=None):
    """Poll one service whose probe rounds say `answers(t, baseline)`; returns (rounds, out, clock, baselines)."""
    clock, baselines = FakeTime(), []

    def fake_probe(run, wanted, baseline, log_lines):
        baselines.append(dict(baseline))
        return {s["name"]: answers(clock(), baseline) for s in wanted}

    monkeypatch.setattr(deploy_step, "probe_services", fake_probe)
    monkeypatch.setattr(deploy_step, "log_tail", lambda run, name, lines: ["FATAL: password authentication failed"])
    request = {"probe": [{"name": "litellm", "with_logs": with_logs}], "poll": {"seconds": seconds}}
    out = {"probe": {"litellm": answers(0.0, {})}, "remote": {}}
    rounds = deploy_step.poll(None, request, out, lambda fn, items: [fn(i) for i in items],
                              clock=clock, sleep=clock.sleep, rng=NoJitter)
    return rounds, out, clock, baselines


def container(restarts):
    return [{"name": "aiplatform-litellm", "restart_count": restarts}]


def test_a_poll_returns_within_a_round_of_the_service_answering(monkeypatch):
    rounds, out, clock, dummy = poll_with(
        lambda t, b: {"verdict": "ready" if t >= 2.0 else "waiting", "detail": "", "containers": container(0)},
        monkeypatch=monkeypatch)
    assert out["probe"]["litellm"]["verdict"] == "ready"
    assert 2.0 <= clock() <= 3.0  # pauses 0.25, 0.5, 1, 1, ...: the round after 2 s, never a second later
    assert rounds == 4


def test_a_poll_gives_up_at_its_window_and_asks_for_the_log_tail_once(monkeypatch):
    rounds, out, clock, dummy = poll_with(lambda t, b: {"verdict": "waiting", "detail": "HTTP 503",
                                                        "containers": container(0)},
                                          seconds=3.0, with_logs=True, monkeypatch=monkeypatch)
    assert out["probe"]["litellm"]["verdict"] == "waiting" and clock() <= 3.0
    assert out["probe"]["litellm"]["logs"] == ["FATAL: password authentication failed"]


def test_a_poll_keeps_the_restart_counts_of_its_first_round(monkeypatch):
    # the container restarts after 1 s: later rounds are judged against the count the first round saw
    rounds, out, clock, baselines = poll_with(
        lambda t, b: {"verdict": "waiting", "detail": "", "containers": container(1 if t >= 1.0 else 0)},
        seconds=2.0, monkeypatch=monkeypatch)
    assert baselines and all(b == {"aiplatform-litellm": 0} for b in baselines)
