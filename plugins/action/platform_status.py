# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Status of the services on a host: one probe round, a table, restart loops found and stopped."""
from __future__ import annotations

from ansible_collections.aiplatform.stack.plugins.module_utils import backup, drift, sizes
from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.plugin_utils import recovery as rc
from ansible_collections.aiplatform.stack.plugins.plugin_utils.base import PlatformAction
from ansible_collections.aiplatform.stack.plugins.plugin_utils.probing import probe_round


def service_url(svc: dict, host: str, hostvars: dict) -> str | None:
    for port in svc.get("ports", []):
        if port.get("published"):
            bind = port.get("bind") or "0.0.0.0"  # noqa: S104 (an address compared, not bound)
            address = (hostvars.get(host) or {}).get("ansible_host", host) if bind == "0.0.0.0" else bind  # noqa: S104
            scheme = ("https" if port.get("name") == "https" else
                      "http" if svc.get("probe", {}).get("type") in ("http", "all") else "tcp")
            return f"{scheme}://{address}:{port['published']}"
    return None


def size_lines(svc: dict, measured: dict) -> list[str]:
    """The row's lines for what the service holds: its volumes, and its database (PostgreSQL's row: every one)."""
    lines = [f"volume {v['name']}: {sizes.human(v['bytes'])}" for v in measured.get("volumes") or []
             if v["service"] == svc["name"]]
    dbs = measured.get("databases") or {}
    declared = svc.get("database") or []  # one database, or a list of them (Dify's)
    mine = sorted(dbs) if svc["name"] == "postgres" else \
        [d.get("name") for d in (declared if isinstance(declared, list) else [declared]) if d.get("name") in dbs]
    return lines + [f"database {n}: {sizes.human(dbs[n])}" for n in mine]


class ActionModule(PlatformAction):
    _VALID_ARGS = frozenset(("services", "projects_dir", "stop_loops", "window", "climb", "orphans", "networks",
                             "sizes", "disk_warn_percent", "disk_paths", "backup_max_age"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        (stop_loops, orphans, sizes), failed = self.flags(result, args, stop_loops=True, orphans=False, sizes=False)
        if failed:
            return failed
        services = list(args.get("services") or [])
        host = self.host
        rows, stopped_any = [], False

        def emit(event_type, name, message, **facts):
            self.emit(ev.make_event(event_type, name, message, **facts))

        try:
            warn = float(args.get("disk_warn_percent", 85))
        except (TypeError, ValueError):
            warn = -1.0
        if not 0 < warn <= 100:
            return dict(result, failed=True, msg=f"aiplatform_disk_warn_percent: {args.get('disk_warn_percent')!r} is "
                        "not a percentage; set a number from 1 to 100 (85 by default)")
        try:
            max_age = float(args.get("backup_max_age", 26))
        except (TypeError, ValueError):
            max_age = -1.0
        if max_age < 0:
            return dict(result, failed=True, msg=f"aiplatform_backup_max_age: {args.get('backup_max_age')!r} is not a "
                        "number of hours; set 26 (the default: a daily backup a little late), or 0 to never warn")
        # with the log tail of what does not answer: a refused login often shows only there
        found = probe_round(self, task_vars, [dict(s, with_logs=True) for s in services],
                            drift_dir=args.get("projects_dir")) if services else {}
        measured = self._sizes(task_vars, services, dict(args, disk_warn_percent=warn, backup_max_age=max_age)) \
            if sizes else {}
        for svc in services:
            entry = found.get(svc["name"], {})
            state, why = rc.diagnose(entry, window=float(args.get("window", 120)), climb=int(args.get("climb", 3)))
            if state in (rc.UNHEALTHY, rc.CRASH_LOOP):  # in the deploy's wait's words, naming the credential
                why = rc.refused_login(svc["name"], why, entry.get("logs", [])) or why
                entry = dict(entry, detail=why)
            if state == rc.CRASH_LOOP:
                stopped = False
                if stop_loops and args.get("projects_dir") and not self._task.check_mode:
                    stop = self._execute_module("aiplatform.stack.compose_project", task_vars=task_vars, module_args={
                        "project_src": f"{args['projects_dir']}/{svc['name']}", "project_name": svc["project"],
                        "state": "stopped"})
                    stopped = not stop.get("failed")
                    stopped_any = stopped_any or bool(stop.get("changed"))
                emit(ev.RESTART_LOOP, svc["name"], f"{why}" + ("; stopped to end the loop, volumes kept" if stopped else ""),
                     category="crash_loop", logs=entry.get("logs", []))
                state = "stopped (crash loop)" if stopped else state
            details = []
            if entry.get("drift") and state in (rc.HEALTHY, rc.UNHEALTHY):
                # changed behind the platform's back: what differs, by container (site.yml puts it back)
                details = [f"{d['container']}: {drift.describe(d)}" for d in entry["drift"]]
                state, why = rc.DRIFT, "; ".join(details) + (f" ({why})" if state == rc.UNHEALTHY else "")
            # not healthy is worth a warning in the log, not just a line of the table
            emit(ev.SERVICE_STATUS, svc["name"], f"{state}: {why}", state=state,
                 level="INFO" if state == rc.HEALTHY else "WARN", drift=entry.get("drift"),
                 containers=[{k: c.get(k) for k in ("name", "status", "started_at", "created", "restart_count", "oneshot")}
                             for c in entry.get("containers", [])])
            if svc.get("certificates") and state in (rc.HEALTHY, rc.UNHEALTHY, rc.DRIFT):
                details += self._certificate_lines(task_vars, svc)
            for warning in svc.get("status_warnings") or []:  # e.g. LiteLLM config-only: the applications hold its master key
                emit(ev.SECURITY_WARNING, svc["name"], warning)
            details += size_lines(svc, measured)
            row = rc.status_row(svc["name"], host, entry, state, service_url(svc, host, task_vars.get("hostvars", {})))
            rows.append(dict(row, details=details, drift=entry.get("drift") or []))
        if orphans and args.get("projects_dir"):
            rows += self._orphan_rows(task_vars, [s["name"] for s in services], args["projects_dir"], host,
                                      list(args.get("networks") or []))
        table = "\n".join([rc.format_table(rows)] + [f"{host}: {f['message']}" for f in measured.get("findings") or []])
        # stopping a looping container is a change on the host
        return dict(result, changed=stopped_any, rows=rows, table=table, events=self.events,
                    sizes={k: measured[k] for k in ("disks", "volumes", "databases") if k in measured})

    def _sizes(self, task_vars: dict, services: list[dict], args: dict) -> dict:
        """Disks, volumes and databases of this host (one platform_sizes call); a disk past the threshold a WARN
        event of the host."""
        postgres = next((s.get("container") for s in services if s["name"] == "postgres"), None)
        base = args.get("projects_dir")
        res = self._execute_module("aiplatform.stack.platform_sizes", task_vars=task_vars, module_args={
            "paths": ([base] if base else []) + list(args.get("disk_paths") or []), "warn_percent": args["disk_warn_percent"],
            "state_file": f"{base}/.aiplatform-sizes.json" if base else None, "postgres": postgres,
            "backup_record": f"{base}/{backup.RECORD}" if base else None, "backup_max_age": args["backup_max_age"]})
        if res.get("failed"):
            self.emit(ev.make_event(ev.SERVICE_STATUS, "host", f"sizes not read: {res.get('msg')}", level="WARN",
                                    state="unknown"))
            return {}
        for finding in res.get("findings") or []:
            if finding["level"] == "WARN":  # a disk with room, a recent backup: a line of the table, not an event
                self.emit(ev.make_event(ev.SERVICE_STATUS, "host", finding["message"], level="WARN",
                                        state=finding.get("kind", "disk"), disk=finding.get("path")))
        return res

    def _certificate_lines(self, task_vars: dict, svc: dict) -> list[str]:
        """The proxy's certificates as a client sees them (one TLS handshake per hostname, on the host): a line each
        for the row, a WARN event when one has fewer than warn_days days left (its renewal is overdue) or none is read."""
        spec = svc["certificates"]
        if not spec.get("hostnames"):
            return []
        res = self._execute_module("aiplatform.stack.certificate_expiry", task_vars=task_vars, module_args={
            "address": spec.get("address") or "127.0.0.1", "port": int(spec.get("port") or 443),
            "hostnames": list(spec["hostnames"]), "warn_days": int(spec.get("warn_days") or 30)})
        if res.get("failed"):
            self.emit(ev.make_event(ev.SERVICE_STATUS, svc["name"], f"certificates not read: {res.get('msg')}",
                                    level="WARN", state="unknown"))
            return []
        lines = []
        for cert in res.get("certificates") or []:
            self.emit(ev.make_event(ev.SERVICE_STATUS, svc["name"], cert["message"], state="certificate",
                                    level="INFO" if cert["level"] == "OK" else "WARN", certificate=cert))
            lines.append(f"{cert['level']} {cert['message']}")
        return lines

    def _orphan_rows(self, task_vars: dict, enabled: list[str], base_dir: str, host: str, networks: list[str]) -> list[dict]:
        """A row per orphaned service (ORPHANED, with what it holds) and its ORPHANED warning."""
        res = self._execute_module("aiplatform.stack.platform_orphans", task_vars=task_vars,
                                   module_args={"base_dir": base_dir, "enabled": enabled, "networks": networks})
        if res.get("failed"):
            self.emit(ev.make_event(ev.SERVICE_STATUS, "host", f"orphans not looked for: {res.get('msg')}",
                                    level="WARN", state="unknown"))
            return []
        for event in res.get("events") or []:
            self.emit(event)
        return [rc.orphan_row(o, host) for o in (res.get("orphans") or {}).get("services") or []]
