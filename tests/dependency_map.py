"""The platform's default dependency map, read from each role's own `depends_on`: the one copy the tests use."""
import os

import yaml

ROLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "roles")
NINE = ["postgres", "redis", "ollama", "litellm", "dify", "n8n", "flowise", "anythingllm", "openwebui"]


def declared_dependencies(service: str) -> list[str]:
    """`<service>_service.depends_on` as its role ships it (roles/<service>/vars/main.yml)."""
    with open(os.path.join(ROLES, service, "vars", "main.yml")) as fh:
        return list(yaml.safe_load(fh)[f"{service}_service"]["depends_on"])


def default_dependencies(services=None) -> dict[str, list[str]]:
    """The roles' own dependency map, for `services` (default: the nine, without the proxy)."""
    return {name: declared_dependencies(name) for name in services or NINE}
