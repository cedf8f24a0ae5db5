import pytest

from ansible_collections.aiplatform.stack.plugins.plugin_utils.waves import (
    DependencyError,
    dependency_waves,
    find_cycle,
)

from ..dependency_map import default_dependencies

SEED = default_dependencies()  # the roles' own depends_on


def test_seed_graph_waves_follow_depth_not_count():
    assert dependency_waves(SEED) == [
        ["ollama", "redis"], ["postgres"], ["litellm", "n8n"], ["anythingllm", "dify", "flowise", "openwebui"],
    ]


def test_every_service_starts_after_its_dependencies():
    waves = dependency_waves(SEED)
    index = {name: i for i, wave in enumerate(waves) for name in wave}
    for name, deps in SEED.items():
        assert all(index[d] < index[name] for d in deps)


def test_selected_brings_its_dependencies_only():
    assert dependency_waves(SEED, ["litellm"]) == [["redis"], ["postgres"], ["litellm"]]


def test_cycle_is_reported_with_its_path():
    deps = {"a": ["b"], "b": ["c"], "c": ["a"], "d": []}
    with pytest.raises(DependencyError, match=r"cycle a -> b -> c -> a"):
        dependency_waves(deps)
    assert find_cycle({"x": ["x"]}) == ["x", "x"]


def test_unknown_dependency_names_the_path_and_fix():
    with pytest.raises(DependencyError, match=r"'litellm' depends on unknown service 'postgress' \(path litellm -> postgress\)"):
        dependency_waves({"litellm": ["postgress"]}, known=["litellm", "postgres"])


def test_unknown_selected_service():
    with pytest.raises(DependencyError, match="selected service 'nope' is unknown"):
        dependency_waves({"a": []}, ["nope"])


def test_known_limits_the_map_to_enabled_services():
    assert dependency_waves({"a": [], "b": ["a"]}, known=["a", "b", "c"]) == [["a", "c"], ["b"]]
