"""Controller-side helpers on the running ansible-core release (scripts/test-cores.sh runs these on each one)."""
import multiprocessing

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.task import Task
from ansible.template import Templar

from ansible_collections.aiplatform.stack.plugins.plugin_utils import live_events, render


def test_render_templates_uses_the_task_variables_and_keeps_the_trailing_newline(tmp_path):
    src = tmp_path / "compose.yml.j2"
    src.write_text("name: {{ svc }}\nport: {{ port + 1 }}\n")
    loader = DataLoader()
    files = render.render_templates(Templar(loader=loader), loader, {"compose.yml": {"src": str(src), "mode": "0640"}},
                                    {"svc": "redis", "port": 6378})
    assert files == {"compose.yml": {"content": "name: redis\nport: 6379\n", "mode": "0640"}}


def test_render_templates_names_the_template_that_failed(tmp_path):
    src = tmp_path / "bad.j2"
    src.write_text("{{ missing_variable }}")
    loader = DataLoader()
    with pytest.raises(Exception, match=r"bad\.j2 for x"):
        render.render_templates(Templar(loader=loader), loader, {"x": {"src": str(src)}}, {})


class Queue:
    def __init__(self):
        self.sent = []

    def send_callback(self, method, result):
        self.sent.append((method, result))


@pytest.fixture
def task():
    t = Task()
    t.action = "aiplatform.stack.wait_healthy"
    return t


def test_task_result_carries_the_event_in_this_core(task):
    result = live_events.task_result("host1", task, {"aiplatform_event": {"id": "e1"}})
    data = getattr(result, "_return_data", None) or getattr(result, "_result", None)
    assert data["aiplatform_event"] == {"id": "e1"}


def test_send_puts_the_event_on_the_worker_queue(task, monkeypatch):
    queue = Queue()
    monkeypatch.setattr(multiprocessing.current_process(), "_final_q", queue, raising=False)
    assert live_events.send(task, "host1", {"id": "e1"}) is True
    assert [m for m, dummy in queue.sent] == [live_events.METHOD]


def test_send_without_a_worker_queue_leaves_the_event_to_the_result(task):
    assert live_events.send(task, "host1", {"id": "e1"}) is False


def test_a_broken_channel_never_breaks_the_task(task, monkeypatch):
    class Broken:
        def send_callback(self, *a):
            raise RuntimeError("queue closed")
    monkeypatch.setattr(multiprocessing.current_process(), "_final_q", Broken(), raising=False)
    assert live_events.send(task, "host1", {"id": "e1"}) is False
