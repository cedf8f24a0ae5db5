# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: platform_log
type: aggregate
short_description: The platform's one log format, on the console and in a log file, plus JSON events
description:
  - Writes every service event of aiplatform.stack as C([YYYY-MM-DD HH:MM:SS] [LEVEL] [service] message), exactly
    once on the console and once in the log file, and the same events with all their facts (host, run id, attempt,
    duration, category) as JSON lines beside it.
  - Health-wait retries arrive while the wait runs (live progress), not when the task ends.
  - ERROR for failures and timeouts, WARN for retries, INFO otherwise. Secret values and credential-shaped text
    (URL passwords, C(*PASSWORD*=...), C(*KEY*=...)) are masked in both outputs.
  - An interrupted run (SIGINT, SIGTERM) still gets its final RUN_END line with status C(interrupted).
version_added: 0.1.0
author: aiplatform.stack maintainers (@aiplatform-stack)
requirements:
  - enable it in ansible.cfg (C(callbacks_enabled = aiplatform.stack.platform_log))
options:
  log_dir:
    description: Directory of the log file and the JSON events file; created when missing.
    type: path
    default: ~/.ansible/aiplatform
    env:
      - name: AIPLATFORM_LOG_DIR
    ini:
      - section: callback_platform_log
        key: log_dir
  log_file:
    description: Name of the log file inside O(log_dir).
    type: str
    default: aiplatform.log
    env:
      - name: AIPLATFORM_LOG_FILE
    ini:
      - section: callback_platform_log
        key: log_file
  events_file:
    description: Name of the JSON lines events file inside O(log_dir).
    type: str
    default: events.jsonl
    env:
      - name: AIPLATFORM_EVENTS_FILE
    ini:
      - section: callback_platform_log
        key: events_file
  console:
    description: Also print each event line on the console.
    type: bool
    default: true
    env:
      - name: AIPLATFORM_LOG_CONSOLE
    ini:
      - section: callback_platform_log
        key: console
  report:
    description:
      - At the end of each run, compute the metrics, print them as a METRICS line, and write C(metrics.json),
        C(state.json) (each service's state with history) and an offline HTML report C(report-<run id>.html)
        (also copied to C(report.html)) into O(log_dir).
    type: bool
    default: true
    env:
      - name: AIPLATFORM_REPORT
    ini:
      - section: callback_platform_log
        key: report
  run_id:
    description: Identifier of this run in the JSON events; a random one when unset.
    type: str
    env:
      - name: AIPLATFORM_RUN_ID
    ini:
      - section: callback_platform_log
        key: run_id
"""

import json
import os
import signal
import tempfile
import uuid

from ansible.plugins.callback import CallbackBase

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.module_utils import metrics as mx
from ansible_collections.aiplatform.stack.plugins.module_utils import report, state_store


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "aiplatform.stack.platform_log"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The live channel's custom method must be known to the dispatcher (see plugin_utils/live_events.py).
        # Before 2.19 the dispatcher looks every method up by name and has no such set.
        implemented = getattr(self, "_implemented_callback_methods", None)
        if implemented is not None:
            self._implemented_callback_methods = frozenset(implemented | {"v2_aiplatform_event"})
        self._seen: set[str] = set()
        self._log = None
        self._events = None
        self._redactor = ev.Redactor()
        self._run_id = ""
        self._ended = False
        self._failed_services: set[str] = set()
        self._counts = {"events": 0, "errors": 0}
        self._run_events: list[dict] = []

    # -- setup and teardown -------------------------------------------------------------------------------------
    def set_options(self, task_keys=None, var_options=None, direct=None) -> None:
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        self._run_id = self.get_option("run_id") or uuid.uuid4().hex[:12]

    def _open(self) -> None:
        if self._log is not None:
            return
        log_dir = os.path.expanduser(self.get_option("log_dir"))
        os.makedirs(log_dir, exist_ok=True)
        self._dir = log_dir
        self._log = open(os.path.join(log_dir, self.get_option("log_file")), "a", encoding="utf-8", buffering=1)
        self._events = open(os.path.join(log_dir, self.get_option("events_file")), "a", encoding="utf-8", buffering=1)
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(sig)
            signal.signal(sig, self._interrupted_handler(previous))

    def _interrupted_handler(self, previous):
        def handler(signum, frame):
            self._end("interrupted", f"run interrupted by {signal.Signals(signum).name}")
            if callable(previous):
                previous(signum, frame)
            else:
                raise KeyboardInterrupt
        return handler

    def _end(self, status: str, message: str) -> None:
        if self._ended or self._log is None:
            return
        self._ended = True
        if self.get_option("report") and status != "interrupted":
            try:
                self._write_report()
            except (OSError, ValueError) as exc:  # the record of the run matters more than its report
                self._display.warning(f"aiplatform.stack.platform_log: report not written: {exc}")
        self.record(ev.make_event(ev.RUN_END, "run", message, status=status))

    def _write_atomic(self, name: str, text: str) -> str:
        path = os.path.join(self._dir, name)
        fd, tmp = tempfile.mkstemp(dir=self._dir, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
        return path

    def _write_report(self) -> None:
        """Metrics from every recorded event and this run's container facts; state store; HTML report."""
        with open(os.path.join(self._dir, self.get_option("events_file")), encoding="utf-8") as fh:
            history = [json.loads(line) for line in fh if line.strip()]
        with open(os.path.join(self._dir, self.get_option("log_file")), encoding="utf-8") as fh:
            lines = fh.read().splitlines()
        latest = {}
        for e in self._run_events:
            for c in e.get("containers") or []:
                latest[c["name"]] = c
        metrics = mx.compute(history, lines, list(latest.values()) if latest else None)
        self._write_atomic("metrics.json", json.dumps({"run_id": self._run_id, "metrics": metrics}, indent=2))
        store_path = os.path.join(self._dir, "state.json")
        store = {}
        if os.path.exists(store_path):
            with open(store_path, encoding="utf-8") as fh:
                store = json.load(fh)
        self._write_atomic("state.json", json.dumps(state_store.apply(store, self._run_events), indent=2))
        page = report.render(self._run_id, self._run_events, metrics)
        self._write_atomic(f"report-{self._run_id}.html", page)
        self._write_atomic("report.html", page)
        self.record(ev.make_event(ev.METRICS, "run", mx.summary_line(metrics), metrics={
            k: v["value"] for k, v in metrics.items()}))

    # -- the one place that writes ------------------------------------------------------------------------------
    def record(self, event: dict) -> None:
        """Write one event: the line to console and log file, the JSON to the events file. Each event once."""
        if event.get("id") in self._seen:
            return
        self._open()
        self._seen.add(event.get("id") or uuid.uuid4().hex)
        event = self._redactor.data(dict(event, run_id=self._run_id))
        line = ev.format_line(event)
        if self.get_option("console"):
            self._display.display(line)
        self._log.write(line + "\n")
        self._events.write(ev.to_json(event) + "\n")
        self._run_events.append(event)
        self._counts["events"] += 1
        if event["level"] == "ERROR":
            self._counts["errors"] += 1
            self._failed_services.add(event["service"])

    # -- hooks ----------------------------------------------------------------------------------------------------
    def v2_playbook_on_start(self, playbook) -> None:
        self.record(ev.make_event(ev.RUN_START, "run", f"run {self._run_id} started: {os.path.basename(playbook._file_name)}"))

    def v2_aiplatform_event(self, result) -> None:
        event = self._parts(result)[0].get("aiplatform_event")
        if event:
            self.record(event)

    @staticmethod
    def _parts(result) -> tuple[dict, object]:
        data = getattr(result, "result", None)
        if data is None:
            data = getattr(result, "_result", {})
        task = getattr(result, "task", None) or getattr(result, "_task", None)
        return data or {}, task

    def _from_result(self, result) -> None:
        data, task = self._parts(result)
        action = getattr(task, "action", "") or ""
        if not action.startswith("aiplatform.stack."):
            return
        host = getattr(result, "_host", None) or getattr(result, "host", None)
        name = host.get_name() if hasattr(host, "get_name") else None
        for item in [data] + list(data.get("results") or []):
            if isinstance(item, dict):
                for event in item.get("events") or []:
                    if isinstance(event, dict) and event.get("type"):
                        # modules know the machine, not its inventory name: events carry the inventory name
                        self.record(dict(event, host=name or event.get("host")))

    def v2_runner_on_ok(self, result) -> None:
        self._from_result(result)

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._from_result(result)

    def v2_runner_item_on_ok(self, result) -> None:
        self._from_result(result)

    def v2_runner_item_on_failed(self, result) -> None:
        self._from_result(result)

    def v2_playbook_on_stats(self, stats) -> None:
        failed = sum(len(getattr(stats, k, {})) for k in ("failures", "dark"))
        status = "failed" if failed else "ok"
        self._end(status, f"run {self._run_id} {status}: {self._counts['events']} events, {self._counts['errors']} errors")
