# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Dependency map -> start waves (topological layers).

Services of one wave have all their dependencies in earlier waves, so a wave starts together and the next wave
starts only when the whole current one is healthy: time grows with the depth of the graph, not the service count.
"""
from __future__ import annotations


class DependencyError(ValueError):
    """A dependency map that cannot be ordered; the message names the offending path or name."""


def _closure(deps: dict[str, list[str]], selected: list[str]) -> set[str]:
    wanted: set[str] = set()
    stack = list(selected)
    while stack:
        name = stack.pop()
        if name in wanted:
            continue
        wanted.add(name)
        stack.extend(deps.get(name, []))
    return wanted


def find_cycle(deps: dict[str, list[str]]) -> list[str] | None:
    """A dependency cycle as a path whose first and last names are the same, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for dep in sorted(deps.get(name, [])):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return None

    for name in sorted(deps):
        if name not in state:
            found = visit(name)
            if found:
                return found
    return None


def validate(deps: dict[str, list[str]], known: list[str] | None = None) -> None:
    """Raise DependencyError for unknown names and cycles."""
    names = set(known) if known is not None else set(deps)
    for service in sorted(deps):
        if service not in names:
            raise DependencyError(f"dependency map: unknown service '{service}' (known: {', '.join(sorted(names))})")
        for dep in deps[service] or []:
            if dep not in names:
                raise DependencyError(
                    f"dependency map: service '{service}' depends on unknown service '{dep}'"
                    f" (path {service} -> {dep}); enable '{dep}', or change what {service} waits for:"
                    f" aiplatform_dependencies.{service} replaces its role's depends_on (a custom service:"
                    f" aiplatform_custom_services.{service}.depends_on)"
                )
    cycle = find_cycle(deps)
    if cycle:
        raise DependencyError(
            f"dependency map: cycle {' -> '.join(cycle)}; break it in one of them: aiplatform_dependencies.<service>"
            " replaces its role's depends_on (a custom service: aiplatform_custom_services.<service>.depends_on)"
        )


def dependency_waves(deps: dict[str, list[str]], selected: list[str] | None = None,
                     known: list[str] | None = None) -> list[list[str]]:
    """Waves (lists of service names, sorted) covering `selected` and everything they depend on.

    `deps` maps service -> list of services it needs; `known` lists every valid service name (default: the
    keys of `deps`). A service missing from `deps` has no dependencies.
    """
    deps = {name: list(needs or []) for name, needs in (deps or {}).items()}
    names = list(known) if known is not None else sorted(set(deps) | {d for v in deps.values() for d in v})
    for name in names:
        deps.setdefault(name, [])
    validate(deps, names)
    if selected is not None:
        for name in selected:
            if name not in names:
                raise DependencyError(f"selected service '{name}' is unknown (known: {', '.join(sorted(names))})")
    wanted = _closure(deps, list(selected)) if selected is not None else set(names)

    waves: list[list[str]] = []
    placed: set[str] = set()
    while len(placed) < len(wanted):
        wave = sorted(n for n in wanted - placed if all(d in placed for d in deps[n]))
        waves.append(wave)  # never empty: validate() rejected cycles
        placed.update(wave)
    return waves
