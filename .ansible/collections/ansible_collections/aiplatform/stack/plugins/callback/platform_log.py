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
  - ERROR for failures and timeouts, WARN for retries, INFO otherwise.
  - Secrets are masked in both outputs before anything is written or shown, by value and by pattern. By value, the
    secrets the run loaded (the C(aiplatform_secrets) and C(aiplatform_vault_secrets) facts the pipeline sets, read
    in memory and never written), raw and URL-encoded, JSON- or env-file-escaped. By pattern, URL passwords,
    C(NAME=value) where the name says secret, JSON members such as C(password) with a string value, C(Bearer ...),
    C(requirepass ...).
  - An interrupted run (SIGINT, SIGTERM) still gets its final RUN_END line with status C(interrupted).
version_added: 0.1.0
author: aiplatform.stack maintainers (@aiplatform-stack)
requirements:
  - enable it in ansible.cfg (C(callbacks_enabled = aiplatform.stack.platform_log))
options:
  log_dir:
    description:
      - Directory of the log file and the JSON events file; created when missing. It is made 0700 (when this user
        owns it) and every file in it 0600, because events name hosts, services and causes.
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
  keep_reports:
    description:
      - How many per-run HTML reports (C(report-<run id>.html)) to keep in O(log_dir); the oldest beyond it are
        deleted at the end of a run. C(report.html) (the latest) is always kept.
    type: int
    default: 20
    env:
      - name: AIPLATFORM_KEEP_REPORTS
    ini:
      - section: callback_platform_log
        key: keep_reports
  max_events_mb:
    description:
      - Size (MiB) past which the events file and the log file are rotated at the start of a run
        (C(events.jsonl.1) ... C(.3) are kept, likewise for the log). The metrics are running totals in
        C(metrics.json), so rotation loses none of them and a run's cost
        does not grow with the history. C(0) never rotates.
    type: float
    default: 20
    env:
      - name: AIPLATFORM_MAX_EVENTS_MB
    ini:
      - section: callback_platform_log
        key: max_events_mb
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
import uuid

from ansible.plugins.callback import CallbackBase

from ansible_collections.aiplatform.stack.plugins.module_utils import errors
from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.plugin_utils import metrics as mx
from ansible_collections.aiplatform.stack.plugins.plugin_utils import records, report, state_store

# Facts (set by roles/aiplatform/tasks/prepare.yml) whose values are secrets: masked by value in every event.
SECRET_FACTS = ("aiplatform_secrets", "aiplatform_vault_secrets")


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
        self._variable_manager = None
        self._learned: set[tuple] = set()
        self._step = ""  # the task running now, named by RUN_END and by the event of a failure
        self._failed_step = ""
        self._error_step = ""  # the task during which the first ERROR event came: where the run went wrong
        self._hosts_with_error: set[str] = set()  # hosts that recorded an ERROR event during this task
        self._hosts_erred: set[str] = set()  # ... during this run

    def _init_callback_methods(self) -> None:
        # 2.19's task queue manager recomputes the set after construction, from the standard methods only: without
        # this the live channel's events were dropped and reached the log only with the task's result
        super()._init_callback_methods()
        self._implemented_callback_methods = frozenset(self._implemented_callback_methods | {"v2_aiplatform_event"})

    # -- setup and teardown -------------------------------------------------------------------------------------
    def set_options(self, task_keys=None, var_options=None, direct=None) -> None:
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        self._run_id = self.get_option("run_id") or uuid.uuid4().hex[:12]

    def _open(self) -> None:
        if self._log is not None:
            return
        log_dir = records.private_dir(os.path.expanduser(self.get_option("log_dir")))
        self._dir = log_dir
        events_path = os.path.join(log_dir, self.get_option("events_file"))
        limit = int(float(self.get_option("max_events_mb") or 0) * 1024 * 1024)
        records.rotate(events_path, limit)
        records.rotate(os.path.join(log_dir, self.get_option("log_file")), limit)
        self._log = records.open_append(os.path.join(log_dir, self.get_option("log_file")))
        self._events = records.open_append(events_path)
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(sig)
            signal.signal(sig, self._interrupted_handler(previous))

    def _interrupted_handler(self, previous):
        def handler(signum, frame):
            if self._log is not None and not self._ended:
                self.record(ev.make_event(ev.STEP_FAIL, "run", f"interrupted by {signal.Signals(signum).name} during "
                                          f"step '{self._step}'", category="interrupted", step=self._step))
            self._end("interrupted", f"run interrupted by {signal.Signals(signum).name} during step '{self._step}'")
            if callable(previous):
                previous(signum, frame)
            else:
                raise KeyboardInterrupt
        return handler

    def _end(self, status: str, message: str) -> None:
        if self._ended or self._log is None:
            return
        self._ended = True
        try:
            if self.get_option("report") and status != "interrupted":
                self._write_report()
        except Exception as exc:  # the run's RUN_END matters more than its report, whatever broke it
            self._display.warning(f"aiplatform.stack.platform_log: report not written: {exc}")
        finally:
            self.record(ev.make_event(ev.RUN_END, "run", message, status=status))

    def _write_atomic(self, name: str, text: str) -> str:
        return records.write_atomic(os.path.join(self._dir, name), text)

    def _damaged(self, what: str) -> None:
        """A damaged record is a warning on the console and a WARN line, never a failed run."""
        self._display.warning(f"aiplatform.stack.platform_log: {what}")
        self.record(ev.make_event(ev.RECORD_DAMAGED, "run", what))

    def _totals(self, previous: dict) -> dict:
        """Running metric totals: the previous run's, or (once, when there are none) counted from the history."""
        totals = previous.get("totals")
        if isinstance(totals, dict) and all(isinstance(totals.get(n), dict) for n in mx.COUNTED):
            return totals
        history, damaged = records.read_events(os.path.join(self._dir, self.get_option("events_file")),
                                               skip_run=self._run_id)
        if damaged:
            self._damaged(f"{damaged} damaged line(s) of {self.get_option('events_file')} skipped")
        return mx.counts(history, [])

    def _new_log_lines(self, previous: dict) -> tuple[list[str], dict]:
        """The log lines not counted yet (from where the last count stopped; all of a new or rotated file)."""
        path = os.path.join(self._dir, self.get_option("log_file"))
        self._log.flush()
        st = os.stat(path)
        pos = previous.get("log_position")
        start = 0
        if isinstance(pos, dict) and pos.get("inode") == st.st_ino and isinstance(pos.get("offset"), int) \
                and 0 <= pos["offset"] <= st.st_size:
            start = pos["offset"]
        return records.read_lines(path, start, st.st_size), {"inode": st.st_ino, "offset": st.st_size}

    def _write_report(self) -> None:
        """Metrics as running totals plus this run's events; state store; HTML report. Cost: this run only."""
        previous, problem = records.load_object(os.path.join(self._dir, "metrics.json"))
        if problem:
            self._damaged(problem)
        lines, position = self._new_log_lines(previous)
        run_events = [e for e in self._run_events if e["type"] != ev.METRICS]
        totals = mx.add_counts(self._totals(previous), mx.counts(run_events, lines))
        latest = {}
        for e in self._run_events:
            for c in e.get("containers") or []:
                if isinstance(c, dict) and c.get("name"):
                    latest[c["name"]] = c
        metrics = mx.from_totals(totals, list(latest.values()) if latest else None)
        store, problem = records.load_object(os.path.join(self._dir, "state.json"))
        if problem:
            self._damaged(problem)
        self._write_atomic("state.json", json.dumps(state_store.apply(store, self._run_events), indent=2))
        page = report.render(self._run_id, self._run_events, metrics)
        self._write_atomic(f"report-{self._run_id}.html", page)
        self._write_atomic("report.html", page)
        records.prune(self._dir, "report-*.html", int(self.get_option("keep_reports")),
                      protect=os.path.join(self._dir, f"report-{self._run_id}.html"))
        # last: a run that breaks before this line leaves the totals as they were (never counted twice)
        self._write_atomic("metrics.json", json.dumps({"run_id": self._run_id, "metrics": metrics, "totals": totals,
                                                       "log_position": position}, indent=2))
        self.record(ev.make_event(ev.METRICS, "run", mx.summary_line(metrics), metrics={
            k: v["value"] for k, v in metrics.items()}))

    # -- the one place that writes ------------------------------------------------------------------------------
    def _learn_secrets(self) -> None:
        """Feed the redactor the secret facts of every host (the variable manager's memory; nothing is written)."""
        cache = getattr(self._variable_manager, "_nonpersistent_fact_cache", None) or {}
        for host, facts in list(cache.items()):
            for name in SECRET_FACTS:
                value = (facts or {}).get(name)
                if value and (host, name, id(value)) not in self._learned:
                    self._learned.add((host, name, id(value)))
                    self._redactor.add(value)

    def record(self, event: dict) -> None:
        """Write one event: the line to console and log file, the JSON to the events file. Each event once."""
        if event.get("id") in self._seen:
            return
        self._open()
        self._learn_secrets()
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
            self._error_step = self._error_step or self._step
            self._hosts_with_error.add(event.get("host") or "")
            self._hosts_erred.add(event.get("host") or "")
            self._failed_services.add(event["service"])

    # -- hooks ----------------------------------------------------------------------------------------------------
    def v2_playbook_on_start(self, playbook) -> None:
        # the workers fork from this process: the run lock on each host names this run
        os.environ.setdefault("AIPLATFORM_RUN_ID", self._run_id)
        self.record(ev.make_event(ev.RUN_START, "run", f"run {self._run_id} started: {os.path.basename(playbook._file_name)}"))

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        self._step = task.get_name()
        self._hosts_with_error = set()

    def v2_playbook_on_handler_task_start(self, task) -> None:
        self.v2_playbook_on_task_start(task, False)

    def _task_failed(self, result, category: str | None = None) -> None:
        """Whatever failed - a module, the engine, a host - is an ERROR event with its category and cause."""
        data, task = self._parts(result)
        host = getattr(result, "_host", None) or getattr(result, "host", None)
        name = host.get_name() if hasattr(host, "get_name") else str(host or "")
        step = getattr(task, "get_name", lambda: self._step)() or self._step
        self._failed_step = self._failed_step or step
        if name in self._hosts_with_error:
            return  # the step said what failed already
        if getattr(task, "action", "") in ("ansible.builtin.fail", "fail") and name in self._hosts_erred:
            return  # the pipeline's closing verdict on failures whose events are already written
        cause = " ".join(str(data.get("msg") or data.get("reason") or "no message").split())
        category = category or data.get("category") or errors.classify(cause)
        self.record(ev.make_event(ev.STEP_FAIL, "host", f"step '{step}' failed on {name}: [{category}] {cause}",
                                  host=name, category=category, step=step))

    def v2_runner_on_unreachable(self, result) -> None:
        self._task_failed(result, category="unreachable")

    def v2_playbook_on_play_start(self, play) -> None:
        self._variable_manager = play.get_variable_manager()

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
        if not ignore_errors:
            self._task_failed(result)

    def v2_runner_item_on_ok(self, result) -> None:
        self._from_result(result)

    def v2_runner_item_on_failed(self, result) -> None:
        self._from_result(result)
        data = self._parts(result)[0]
        if not data.get("_ansible_ignore_errors"):
            self._task_failed(result)

    def v2_playbook_on_stats(self, stats) -> None:
        failed = sum(len(getattr(stats, k, {})) for k in ("failures", "dark"))
        status = "failed" if failed else "ok"
        # the step of the first error (the deploy), not the verdict task that fails the host because of it
        step = self._error_step or self._failed_step
        where = f" at step '{step}'" if failed and step else ""
        self._end(status, f"run {self._run_id} {status}{where}: {self._counts['events']} events, "
                          f"{self._counts['errors']} errors")
