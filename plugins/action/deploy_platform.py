# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deploy the services placed on this host as a dependency graph (see plugin_utils/scheduler.py)."""
from __future__ import annotations

import yaml
from ansible.errors import AnsibleError

from ansible_collections.aiplatform.stack.plugins.module_utils import drift
from ansible_collections.aiplatform.stack.plugins.module_utils.compose import COMPOSE_FILE
from ansible_collections.aiplatform.stack.plugins.plugin_utils import catalog as cat
from ansible_collections.aiplatform.stack.plugins.plugin_utils import service_roles
from ansible_collections.aiplatform.stack.plugins.plugin_utils.base import PlatformAction, module_failure
from ansible_collections.aiplatform.stack.plugins.plugin_utils.render import render_service, split_private
from ansible_collections.aiplatform.stack.plugins.plugin_utils.scheduler import Scheduler, Service

WAIT_KEYS = ("name", "project", "probe", "target", "backoff", "type")
HTTP_KEYS = ("type", "path", "status", "json", "body_contains")


def compose_specs(files: dict) -> dict | None:
    """What the host judges drift by (drift.service_specs), parsed here: hosts need no YAML library."""
    content = (files.get(COMPOSE_FILE) or {}).get("content")
    try:
        return drift.service_specs(yaml.safe_load(content)) if content else None
    except yaml.YAMLError:
        return None  # not valid YAML: the host's validation (docker compose config) says why


def remote_dependency(catalog: dict, name: str, host: str, groups: dict, hostvars: dict) -> dict:
    """How this host waits for a dependency placed elsewhere: its probe against its published endpoint."""
    svc = catalog[name]
    port = next((p for p in svc.get("ports") or [] if p.get("published")), None)
    if port is None:
        raise cat.ConfigError(f"{name}: runs on another host than its dependents, so it needs a published port "
                              f"(set {name}_published_port for all hosts)")
    where = cat.endpoint(catalog, name, port["name"], host, groups, hostvars)
    probe = svc.get("probe") or {}
    same_port = probe.get("type") == "http" and int(probe.get("port") or 0) == int(port["container"])
    if same_port:
        remote_probe = {k: probe[k] for k in HTTP_KEYS if k in probe}
    else:  # the protocol's own readiness where we speak it (a listening port is not a ready server)
        remote_probe = {"type": name if name in ("postgres", "redis") else "tcp"}
    return {"host": where["host"], "port": where["port"], "probe": remote_probe,
            "backoff": svc.get("backoff") or {}, "type": svc.get("type")}


def first_admin(name: str, catalog: dict, secrets_dir: str, groups: dict, hostvars: dict) -> dict | None:
    """What the host needs to set up the application's first administrator (its `admin`), with its stored password."""
    spec = catalog[name].get("first_admin")
    if not spec:
        return None
    mine = cat.secrets_of(catalog, name, groups, hostvars)
    if not mine.get("admin_password"):
        raise cat.ConfigError(f"{name}: no secret 'admin_password' loaded; the secrets step runs first")
    out = dict(spec, password=mine["admin_password"], secrets_file=f"{secrets_dir}/{name}.json")
    if mine.get("init_password"):
        out["init_password"] = mine["init_password"]
    return out


class ActionModule(PlatformAction):
    _VALID_ARGS = frozenset(("services", "catalog", "dependencies", "base_dir", "pull", "parallel",
                             "rollback", "serial", "lock_run"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        (rollback, serial), failed = self.flags(result, args, rollback=True, serial=False)
        if failed:
            return failed
        catalog = dict(args["catalog"])
        deploying = list(args.get("services") or [])
        deps_map = dict(args.get("dependencies") or {})
        base_dir = args["base_dir"]
        host, groups, hostvars = self.host, task_vars.get("groups", {}), task_vars.get("hostvars", {})
        here = cat.placed_on(deploying, catalog, host, groups)
        gone = sorted(set(task_vars.get("ansible_play_hosts_all") or []) - set(task_vars.get("ansible_play_hosts") or []))
        down = set(cat.placed_on(deploying, catalog, gone, groups)) - set(here) if gone else set()

        render_vars = service_roles.render_variables(self._loader, task_vars)
        secrets_dir = self._templar.template(task_vars.get("aiplatform_secrets_dir") or f"{base_dir}/secrets")
        services, remote = [], {}
        for name in here:
            svc = catalog[name]
            deps = [d for d in deps_map.get(name) or [] if d in deploying]
            base = {"name": name, "deps": deps, "wait": {k: svc[k] for k in WAIT_KEYS if svc.get(k) is not None},
                    "project": {"service": name, "project_src": f"{base_dir}/{name}", "project_name": svc["project"]}}
            if any(d in down for d in deps):
                services.append(Service(**base))  # skipped by the scheduler: nothing to render it with
                continue
            try:
                for dep in deps:
                    if dep not in here and dep not in down and dep not in remote:
                        remote[dep] = remote_dependency(catalog, dep, host, groups, hostvars)
                    if dep == "postgres" and dep in remote and svc.get("database"):
                        # ready for this consumer when it logs in to its own database with its own password
                        mine = cat.app_databases([name], catalog, {name: cat.secrets_of(catalog, name, groups, hostvars)})
                        remote[dep].setdefault("logins", []).extend(
                            {"user": d["owner"], "password": d["password"], "database": d["name"]} for d in mine)
                wiring = cat.wiring([name], catalog, host, groups, hostvars)
                admin = first_admin(name, catalog, secrets_dir, groups, hostvars)
                keys = cat.virtual_keys(catalog, name, secrets_dir, groups, hostvars)
                databases = None
                if name == "postgres":
                    alive = [n for n in deploying if n not in down]  # a host that dropped out loaded no secrets
                    consumers = {n: cat.secrets_of(catalog, n, groups, hostvars) for n in alive}
                    databases = {"container": svc["container"], "admin_user": render_vars.get("postgres_admin_user", "postgres"),
                                 "databases": cat.app_databases(alive, catalog, consumers)}
                files = render_service(self._templar, self._loader, name, svc, render_vars)
            except (AnsibleError, cat.ConfigError) as exc:
                # this service fails (its dependents are skipped), the others carry on
                services.append(Service(**base, failure=("config", f"not deployed: {exc}")))
                continue
            base["project"].update(split_private(files), probe=svc.get("probe") or None, target=svc.get("target"),
                                   model=compose_specs(files))
            models = svc.get("models") or {}
            services.append(Service(**base, wiring=wiring[0] if wiring else None, databases=databases,
                                    models={"port": models["port"], "names": list(models["names"])}
                                    if models.get("names") else None, admin=admin, virtual_keys=keys))

        # each project's own link networks come with its compose model (external_networks)
        common = {"pull": args.get("pull", "missing"), "networks": [],
                  "parallel": int(args.get("parallel", 8))}
        lock = {"dir": base_dir, "run": args["lock_run"]} if args.get("lock_run") and not self._task.check_mode else None

        def step(request: dict) -> dict:
            res = self._execute_module("aiplatform.stack.deploy_step", module_args=dict(request, **common),
                                       task_vars=task_vars)
            res.pop("invocation", None)
            if res.get("failed") and not res.get("category"):
                res.update(module_failure(res))
            return res

        scheduler = Scheduler(services, step, self.emit, remote=remote, down=down,
                              rollback=rollback, serial=serial,
                              check_mode=self._task.check_mode, lock=lock)
        try:
            summary = scheduler.run()
        finally:
            self.cleanup()
        if self._task.diff and summary["diff"]:
            result["diff"] = summary.pop("diff")
        summary.pop("diff", None)
        summary["models"] = [{"service": n, "container": catalog[n]["container"], **catalog[n]["models"]}
                             for n in summary["models"]]
        return dict(result, **summary, events=self.events, warnings=scheduler.warnings,
                    lock_released=scheduler.lock_released)
