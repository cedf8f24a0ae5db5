"""The platform's default dependency map, read from each role's own `depends_on`: the one copy the tests use."""
import ast
import os

import jinja2
import yaml

ROLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "roles")
NINE = ["postgres", "redis", "ollama", "litellm", "dify", "n8n", "flowise", "anythingllm", "openwebui"]


def declared_dependencies(service: str, enabled: list[str] | None = None) -> list[str]:
    """`<service>_service.depends_on` as its role ships it (roles/<service>/vars/main.yml), with `enabled` (default:
    the nine and the proxy) as aiplatform_services where the list depends on it."""
    with open(os.path.join(ROLES, service, "vars", "main.yml")) as fh:
        value = yaml.safe_load(fh)[f"{service}_service"]["depends_on"]
    if isinstance(value, str):  # a template, as Ansible evaluates it (its value is a Python list literal)
        services = NINE + ["proxy"] if enabled is None else enabled
        # a list literal, not markup: no autoescape, as in Ansible's own templating
        template = jinja2.Environment(autoescape=False).from_string(value)  # noqa: S701
        value = ast.literal_eval(template.render(aiplatform_services=services))
    return list(value)


def default_dependencies(services=None) -> dict[str, list[str]]:
    """The roles' own dependency map, for `services` (default: the nine, without the proxy)."""
    return {name: declared_dependencies(name) for name in services or NINE}
