"""Damaged records are skipped with a warning, never fatal; files are written atomically, bounded and private."""
import json
import os
import signal
import stat
import time

import pytest

from ansible_collections.aiplatform.stack.plugins.callback.platform_log import CallbackModule
from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.plugin_utils import metrics as mx
from ansible_collections.aiplatform.stack.plugins.plugin_utils import records, state_store


class Display:
    verbosity = 0

    def __init__(self):
        self.lines, self.warnings = [], []

    def display(self, msg, *a, **k):
        self.lines.append(msg)

    def warning(self, msg, *a, **k):
        self.warnings.append(msg)


class Stats:
    failures, dark = {}, {}


def callback(log_dir, run_id, **options):
    c = CallbackModule(display=Display())
    c._plugin_options = dict({"log_dir": str(log_dir), "log_file": "aiplatform.log", "events_file": "events.jsonl",
                              "console": False, "run_id": run_id, "report": True, "keep_reports": 3,
                              "max_events_mb": 20}, **options)
    c._run_id = run_id
    return c


@pytest.fixture(autouse=True)
def restore_signals():
    yield
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def one_run(log_dir, run_id, healthy=True, **options):
    c = callback(log_dir, run_id, **options)
    c.record(ev.make_event(ev.DEPLOY_START, "redis", "deploying", host="h"))
    c.record(ev.make_event(ev.HEALTH_SUCCESS if healthy else ev.HEALTH_TIMEOUT, "redis", "done", host="h", attempt=1))
    c.v2_playbook_on_stats(Stats())
    return c


def events_of(log_dir):
    return records.read_events(os.path.join(log_dir, "events.jsonl"))[0]


@pytest.mark.parametrize("damage", [
    pytest.param(b'{"id": "x", "time": 1.0, "type": "DEPLOY_ST', id="truncated-last-line"),
    pytest.param(b"\x00\x00garbage\n[]\n42\n{\"type\": 1}\n", id="garbage-lines"),
])
def test_a_damaged_events_file_is_skipped_with_a_warning(tmp_path, damage):
    one_run(tmp_path, "r1")
    with open(tmp_path / "events.jsonl", "ab") as fh:
        fh.write(damage)
    (tmp_path / "metrics.json").unlink()  # the totals are counted from the history again
    c = one_run(tmp_path, "r2")
    events = events_of(tmp_path)
    assert [e["type"] for e in events if e["run_id"] == "r2"][-1] == ev.RUN_END
    assert any("damaged line(s) of events.jsonl skipped" in w for w in c._display.warnings)
    assert any(e["type"] == ev.RECORD_DAMAGED and e["level"] == "WARN" for e in events)
    metrics = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    assert metrics["deployment_success_rate"]["total"] == 2  # r1 and r2, the damage skipped


def test_the_first_event_after_a_truncated_line_is_not_glued_to_it(tmp_path):
    (tmp_path / "events.jsonl").write_bytes(b'{"type": "DEPLOY_ST')
    one_run(tmp_path, "r1")
    assert events_of(tmp_path)[0]["type"] == ev.DEPLOY_START


@pytest.mark.parametrize("content", [b"", b"[]", b"garbage{", b'{"services": []}', b'{"services": {"a@h": 3}}',
                                     b"null"])
def test_a_damaged_state_file_is_tolerated_and_run_end_still_written(tmp_path, content):
    (tmp_path / "state.json").write_bytes(content)
    c = one_run(tmp_path, "r1")
    assert events_of(tmp_path)[-1]["type"] == ev.RUN_END
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["services"]["redis@h"]["state"] == "running"
    if content not in (b'{"services": []}', b'{"services": {"a@h": 3}}'):  # readable JSON objects are repaired
        assert any("state.json" in w for w in c._display.warnings)
        assert [n for n in os.listdir(tmp_path) if n.startswith("state.json.damaged-")]


def test_run_end_is_written_even_when_the_report_breaks(tmp_path, monkeypatch):
    (tmp_path / "state.json").write_text("[]")
    monkeypatch.setattr("ansible_collections.aiplatform.stack.plugins.plugin_utils.report.render",
                        lambda *a, **k: 1 / 0)
    c = one_run(tmp_path, "r1")
    assert events_of(tmp_path)[-1]["type"] == ev.RUN_END
    assert any("report not written" in w for w in c._display.warnings)


def test_metrics_are_running_totals_and_a_run_does_not_read_the_history(tmp_path, monkeypatch):
    one_run(tmp_path, "r1")
    one_run(tmp_path, "r2", healthy=False)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["totals"]["deployment_success_rate"] == {"good": 1, "total": 2}
    assert metrics["metrics"]["health_check_success_rate"]["value"] == 0.5

    def no_history(*a, **k):
        raise AssertionError("the history was read")

    monkeypatch.setattr(records, "read_events", no_history)
    one_run(tmp_path, "r3")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["totals"]["deployment_success_rate"] == {"good": 2, "total": 3}
    # every line is counted once: those of earlier runs' METRICS and RUN_END by the next run
    lines = (tmp_path / "aiplatform.log").read_text().splitlines()
    assert metrics["totals"]["log_consistency"]["total"] == len(lines) - 2
    assert lines[-2:] == [ln for ln in lines[-2:] if "[run]" in ln]


def test_totals_equal_a_full_recount(tmp_path):
    for i in range(4):
        one_run(tmp_path, f"r{i}", healthy=i % 2 == 0)
    totals = json.loads((tmp_path / "metrics.json").read_text())["totals"]
    full = mx.counts(events_of(tmp_path), [])
    for name in ("deployment_success_rate", "health_check_success_rate", "error_recovery_rate"):
        assert totals[name] == full[name]


def test_events_file_is_rotated_by_size_and_the_metrics_survive(tmp_path):
    one_run(tmp_path, "r1")
    size = os.path.getsize(tmp_path / "events.jsonl")
    one_run(tmp_path, "r2", max_events_mb=size / 2 / 1024 / 1024)
    assert (tmp_path / "events.jsonl.1").exists()
    assert {e["run_id"] for e in events_of(tmp_path)} == {"r2"}
    assert json.loads((tmp_path / "metrics.json").read_text())["totals"]["deployment_success_rate"]["total"] == 2


def test_rotation_keeps_a_bounded_number_of_files(tmp_path):
    path = str(tmp_path / "events.jsonl")
    for i in range(6):
        with open(path, "w") as fh:
            fh.write(f"{i}" * 100)
        assert records.rotate(path, 10, keep=3)
    assert sorted(os.listdir(tmp_path)) == ["events.jsonl.1", "events.jsonl.2", "events.jsonl.3"]
    assert (tmp_path / "events.jsonl.1").read_text().startswith("5")
    assert not records.rotate(path, 10)  # nothing to rotate


def test_reports_are_kept_up_to_the_limit(tmp_path):
    for i in range(5):
        one_run(tmp_path, f"r{i}", keep_reports=2)
        later = time.time() - 100 + i
        for name in os.listdir(tmp_path):
            if name == f"report-r{i}.html":
                os.utime(tmp_path / name, (later, later))
    assert sorted(n for n in os.listdir(tmp_path) if n.startswith("report-")) == ["report-r3.html", "report-r4.html"]
    assert (tmp_path / "report.html").exists()


def test_files_are_private(tmp_path):
    log_dir = tmp_path / "logs"
    log_dir.mkdir(mode=0o755)
    (log_dir / "aiplatform.log").write_text("[2026-11-26 12:00:00] [INFO] [a] old\n")
    os.chmod(log_dir / "aiplatform.log", 0o644)
    one_run(log_dir, "r1")
    assert stat.S_IMODE(os.stat(log_dir).st_mode) == 0o700
    for name in os.listdir(log_dir):
        assert stat.S_IMODE(os.stat(log_dir / name).st_mode) == 0o600, name


def test_write_atomic_leaves_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = str(tmp_path / "state.json")
    records.write_atomic(path, '{"a": 1}')

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        records.write_atomic(path, '{"a": 2}')
    assert json.loads(open(path).read()) == {"a": 1}
    assert os.listdir(tmp_path) == ["state.json"]  # no temporary file left behind


@pytest.mark.parametrize("store", [[], None, "x", {"services": []}, {"services": {"k": {"history": "x"}}}])
def test_state_store_repairs_what_it_cannot_read(store):
    out = state_store.apply(store, [{"type": ev.HEALTH_SUCCESS, "service": "a", "time": 1.0, "host": "h"}])
    assert out["services"]["a@h"]["state"] == "running"


@pytest.mark.parametrize("content, problem", [(b"", "is empty"), (b"[]", "holds list"), (b"{x", "is not JSON")])
def test_load_object_says_why(tmp_path, content, problem):
    (tmp_path / "m.json").write_bytes(content)
    data, why = records.load_object(str(tmp_path / "m.json"))
    assert data == {} and problem in why
