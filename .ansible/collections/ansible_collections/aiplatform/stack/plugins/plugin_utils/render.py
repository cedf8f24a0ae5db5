# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Render a service's templates on the controller (used by the compose_project and recover actions)."""
from __future__ import annotations

import os

import yaml
from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.aiplatform.stack.plugins.module_utils.project_files import is_private

try:  # ansible-core 2.19+: file contents are untrusted data until marked as a template
    from ansible.template import trust_as_template
except ImportError:  # before 2.19 every string is a template already
    def trust_as_template(value: str) -> str:
        return value

# Shared compose macros (restart policy, log rotation, network) live in the pipeline role.
PLATFORM_TEMPLATES = os.path.join(os.path.dirname(__file__), "..", "..", "roles", "aiplatform", "templates")


def _read_text(loader, path: str) -> str:
    """A template file's text (vault-encrypted files decrypted), on every supported ansible-core release."""
    if hasattr(loader, "get_text_file_contents"):  # 2.19+
        return loader.get_text_file_contents(path)
    data, dummy = loader._get_file_contents(path)  # before 2.19: the loader's only reader that decrypts vault
    return to_text(data, errors="surrogate_or_strict")


def render_templates(templar, loader, templates: dict, task_vars: dict) -> dict:
    """Templates see the task's variables; a generic template finds its service in aiplatform_render_service."""
    # {relative path: {content, mode}} from {relative path: {src, mode}}; errors name the template.
    files = {}
    for rel, spec in sorted((templates or {}).items()):
        src = spec["src"]
        try:
            data = trust_as_template(_read_text(loader, src))
            env = templar.copy_with_new_env(available_variables=task_vars,
                                            searchpath=[os.path.dirname(src), PLATFORM_TEMPLATES])
            files[rel] = {"content": env.template(data, escape_backslashes=False), "mode": spec.get("mode", "0644")}
        except AnsibleError as exc:
            raise AnsibleError(f"template {src} for {rel}: {exc}") from None
    return files


def render_service(templar, loader, name: str, svc: dict, render_vars: dict) -> dict:
    """One service's files, rendered the same way by every playbook (deploy, recover, upgrade): the role variables
    and the service's own name, which a generic template (a custom service's) reads to find its description."""
    return render_templates(templar, loader, svc.get("templates"), dict(render_vars, aiplatform_render_service=name))


def split_private(files: dict) -> dict:
    """Module arguments for rendered files: `files` (shown in diffs) and `secret_files` (private modes, no_log)."""
    private = {rel: f for rel, f in files.items() if is_private(int(str(f.get("mode", "0644")), 8))}
    return {"files": {rel: f for rel, f in files.items() if rel not in private}, "secret_files": private}


def link_networks_of(files: dict) -> list[str]:
    """The external networks (the link networks) a rendered compose file joins: made before its `up`."""
    try:
        doc = yaml.safe_load((files.get("compose.yml") or {}).get("content") or "") or {}
    except yaml.YAMLError:
        return []  # not valid YAML: the host's validation (docker compose config) says why
    networks = doc.get("networks") if isinstance(doc, dict) else None
    return sorted(str(spec.get("name") or key) for key, spec in (networks or {}).items()
                  if isinstance(spec, dict) and spec.get("external"))
