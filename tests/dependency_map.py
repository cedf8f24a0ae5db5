"""The platform's default dependency map, read from the pipeline role's defaults: the one copy the tests use."""
import os

import yaml

DEFAULTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "roles", "aiplatform", "defaults",
                        "main.yml")


def default_dependencies(services=None) -> dict[str, list[str]]:
    """`aiplatform_dependencies` as the role ships it, for `services` (default: the nine, without the proxy)."""
    with open(DEFAULTS) as fh:
        deps = yaml.safe_load(fh)["aiplatform_dependencies"]
    wanted = services or [name for name in deps if name != "proxy"]
    return {name: list(deps[name]) for name in wanted}
