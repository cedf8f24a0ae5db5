#!/usr/bin/env python3
"""Write roles/<role>/README.md from the role's meta/argument_specs.yml (Galaxy wants a README per role).

Usage: python3 scripts/role_readmes.py [--check]   (--check: exit 1 when a README differs from its specs)
"""
from __future__ import annotations

import json
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROLES = os.path.join(ROOT, "roles")
MARKUP = re.compile(r"\b[CIOV]\(([^)]*)\)")


def _text(value) -> str:
    text = " ".join(value) if isinstance(value, list) else str(value or "")
    return MARKUP.sub(r"`\1`", " ".join(text.split())).replace("|", "\\|")


def _default(spec: dict) -> str:
    if "default" not in spec:
        return ""
    return "`%s`" % json.dumps(spec["default"])


def readme(role: str) -> str:
    with open(os.path.join(ROLES, role, "meta", "argument_specs.yml"), encoding="utf-8") as fh:
        specs = yaml.safe_load(fh)["argument_specs"]
    main = specs["main"]
    out = [f"# aiplatform.stack.{role}", "", _text(main["short_description"]) + ".", "", _text(main["description"]), ""]
    if role == "aiplatform":
        out += ["The playbooks of the collection run this role: `ansible-playbook aiplatform.stack.site -i <inventory>`.", ""]
    else:
        out += ["The platform's playbooks deploy every service through role `aiplatform.stack.aiplatform`; this role",
                "describes the service as data and can deploy it (with its dependencies) on its own:", "",
                "```yaml", "- name: Deploy %s" % role, "  hosts: aiplatform", "  gather_facts: false", "  roles:",
                "    - role: aiplatform.stack.%s" % role, "```", ""]
    out += ["## Entry points", "", "| entry point | what it does |", "|---|---|"]
    out += [f"| `{name}` | {_text(spec['short_description'])} |" for name, spec in specs.items()]
    out += ["", "## Variables", "", "| variable | type | default | meaning |", "|---|---|---|---|"]
    for name, spec in sorted((main.get("options") or {}).items()):
        out.append(f"| `{name}` | {spec.get('type', 'str')} | {_default(spec)} | {_text(spec.get('description'))} |")
    out += ["", "License: GPL-3.0-or-later. Generated from `meta/argument_specs.yml` by `scripts/role_readmes.py`.", ""]
    return "\n".join(out)


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = []
    for role in sorted(os.listdir(ROLES)):
        path = os.path.join(ROLES, role, "README.md")
        text = readme(role)
        current = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if current != text:
            stale.append(path)
            if not check:
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(text)
    if check and stale:
        print("out of date (run scripts/role_readmes.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
