# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Checks of the inventory's input before anything changes: mistyped variables and service-specific rules.

Every problem names the service, the field and the fix.
"""
from __future__ import annotations

import difflib
import re

from ansible_collections.aiplatform.stack.plugins.plugin_utils import proxy

_ENV_REF = re.compile(r"^os\.environ/([A-Za-z_][A-Za-z0-9_]*)$")
# litellm_params keys that carry credentials
_SECRET_KEYS = re.compile(r"(api_key|secret|token|password|credentials)", re.IGNORECASE)


def unknown_variables(names: list[str], prefixes: dict[str, set[str]]) -> list[str]:
    """Variables that start with a service's prefix (`litellm_`) but are not among its known variables."""
    problems = []
    for name in sorted(names):
        for service, known in sorted(prefixes.items()):
            if name.startswith(service + "_") and name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
                fix = f"did you mean {close[0]}?" if close else "remove it or check the spelling"
                problems.append(f"{service}.{name}: unknown variable for {service}; {fix}")
    return problems


# Variables of earlier releases that nothing reads any more: set, the plan refuses them on every playbook (whatever
# their value: aiplatform_backup_keep 0 meant "keep everything"), naming what replaces them, instead of ignoring them.
REMOVED_VARIABLES = {
    "aiplatform_backup_copy_to": "backups go into a restic repository now; put it off the host "
                                 "(aiplatform_backup_repository: sftp:..., rest:..., s3:...) instead of copying archives "
                                 "(README \"Backup and restore\"), and remove the variable",
    "aiplatform_backup_keep": "retention is aiplatform_backup_keep_daily, _weekly and _monthly now; remove the variable",
}


def removed_variables(names: list[str]) -> list[str]:
    """The REMOVED_VARIABLES among `names` (the play's variables), each with what replaces it."""
    return [f"aiplatform.{name}: removed in 0.3: {why}" for name, why in sorted(REMOVED_VARIABLES.items())
            if name in names]


def option_problems(service: str, options: dict, values: dict, path: str = "") -> list[str]:
    """Fields inside dict options (`postgres_backoff: {deadlin: 5}`) that the option's sub-options do not know."""
    problems = []
    for name, spec in sorted((options or {}).items()):
        sub = (spec or {}).get("options")
        value = values.get(name)
        if not sub or not isinstance(value, dict):
            continue
        for key in sorted(value, key=str):
            if key in sub:
                continue
            close = difflib.get_close_matches(str(key), sorted(sub), n=1, cutoff=0.6)
            fix = f"did you mean {close[0]}?" if close else f"one of {', '.join(sorted(sub))}"
            problems.append(f"{service}.{path}{name}.{key}: unknown field of {path}{name}; {fix}")
        problems += option_problems(service, sub, value, f"{path}{name}.")
    return problems


def litellm_problems(models: object, provided_env: list[str]) -> list[str]:
    """LiteLLM's model list: well formed, no literal secrets, every os.environ/ reference provided."""
    if not isinstance(models, list):
        return [f"litellm.litellm_models: must be a list of models, got {type(models).__name__}"]
    problems = []
    provided = set(provided_env)
    for i, model in enumerate(models):
        where = f"litellm.litellm_models[{i}]"
        if not isinstance(model, dict) or not model.get("model_name"):
            problems.append(f"{where}.model_name: missing; every model needs model_name and litellm_params.model")
            continue
        params = model.get("litellm_params")
        if not isinstance(params, dict) or not params.get("model"):
            problems.append(f"{where}.litellm_params.model: missing for model '{model['model_name']}'")
            continue
        for key, value in sorted(params.items()):
            if not isinstance(value, str):
                continue
            ref = _ENV_REF.match(value)
            if ref and ref.group(1) not in provided:
                problems.append(f"{where}.litellm_params[{key}]: references {ref.group(1)}, which nothing provides; "
                                f"add {ref.group(1)} to litellm_extra_secrets (vault)")
            elif not ref and _SECRET_KEYS.search(key) and value:
                problems.append(f"{where}.litellm_params[{key}]: holds a literal secret; put it in litellm_extra_secrets "
                                f"and write os.environ/<NAME> here (config.yaml must not hold secrets)")
    return problems


SERVICE_CHECKS = {
    "litellm": lambda data: litellm_problems(data.get("models"), data.get("provided_env", [])),
    "proxy": proxy.problems,
}


def service_problems(name: str, service: dict) -> list[str]:
    check = SERVICE_CHECKS.get(name)
    return check(service.get("validate") or {}) if check else []
