"""Container hardening in the rendered compose files: every capability dropped but the image's needs, read-only root
with tmpfs where the image allows it, a pids limit; the plan's checks of what the inventory sets."""
import os

import pytest
import yaml

from ansible_collections.aiplatform.stack.plugins.module_utils import inputs

from .render_roles import ROOT, render, role_defaults
from .test_least_privilege import dify_vars

ROLES = ("postgres", "redis", "litellm", "n8n", "flowise", "ollama", "openwebui", "anythingllm")
DIFY_CONTAINERS = {"api": "api", "worker": "worker", "worker_beat": "worker_beat", "web": "web", "sandbox": "sandbox",
                   "plugin_daemon": "plugin_daemon", "ssrf_proxy": "ssrf_proxy", "weaviate": "weaviate",
                   "nginx": "nginx"}
# What each image needs, as the README's table says (role defaults must not drift from it unnoticed).
EXPECTED = {
    "postgres": (["CHOWN", "DAC_READ_SEARCH", "FOWNER", "SETGID", "SETUID"], True, ["/var/run/postgresql", "/tmp"]),
    "redis": (["CHOWN", "DAC_READ_SEARCH", "SETGID", "SETUID"], True, ["/tmp"]),
    "litellm": ([], False, []),
    "n8n": ([], True, ["/tmp", "/home/node/.cache"]),
    "flowise": ([], True, ["/tmp", "/home/node/.cache", "/home/node/.config", "/home/node/.local"]),
    "ollama": ([], False, []),
    "openwebui": ([], False, []),
    "anythingllm": (["SYS_ADMIN"], False, []),
    "dify-nginx": (["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"], True, ["/var/cache/nginx", "/var/run", "/tmp"]),
    "dify-ssrf-proxy": (["SETGID", "SETUID"], False, []),
    "dify-sandbox": (["CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID", "SYS_CHROOT"], False, []),
    "dify-api": ([], False, []), "dify-worker": ([], False, []), "dify-worker-beat": ([], False, []),
    "dify-web": ([], False, []), "dify-plugin-daemon": ([], False, []), "dify-weaviate": ([], False, []),
}


def role_vars(role, **extra):
    """The variables a role's compose template needs, from its defaults (enough for these tests)."""
    defaults = role_defaults(role)
    service = {"project": f"aiplatform-{role}", "container": f"aiplatform-{role}", "ports": []}
    out = {k: v for k, v in defaults.items() if "{{" not in str(v)}
    out.update({f"{role}_service": service, f"{role}_resources": {}, f"{role}_image": f"img/{role}:1"})
    common = {"host": f"aiplatform-{role}", "port": 1}
    out.update({f"{role}_postgres": common, f"{role}_redis": common, f"{role}_litellm": common,
                f"{role}_database_name": role, f"{role}_bind_address": "127.0.0.1", f"{role}_published_port": None,
                f"{role}_ollama_url": "http://ollama:11434", f"{role}_gpu_enabled": False})
    out.update(extra)
    return out


def rendered(role, **extra):
    if role == "dify":
        images = {k: f"img/{k}:1" for k in ("api", "web", "sandbox", "plugin_daemon", "ssrf_proxy", "nginx", "weaviate")}
        variables = dify_vars()
        variables.update({"dify_vector_store": "weaviate", "dify_images": images}, **extra)
        return yaml.safe_load(render("dify", "compose.yml.j2", **variables))
    return yaml.safe_load(render(role, "compose.yml.j2", **role_vars(role, **extra)))


def main_service(role, compose):
    return compose["services"][role]


@pytest.mark.parametrize("role", ROLES)
def test_each_service_drops_every_capability_but_what_its_image_needs(role):
    service = main_service(role, rendered(role))
    caps, read_only, tmpfs = EXPECTED[role]
    assert service["cap_drop"] == ["ALL"]
    assert service.get("cap_add", []) == caps
    assert service["read_only"] is read_only
    assert service.get("tmpfs", []) == tmpfs
    assert isinstance(service["pids_limit"], int) and 0 < service["pids_limit"] <= 4096
    assert service["security_opt"] == ["no-new-privileges:true"]


@pytest.mark.parametrize("container", sorted(DIFY_CONTAINERS))
def test_each_dify_container_is_hardened_as_its_image_allows(container):
    service = rendered("dify")["services"][container]
    caps, read_only, tmpfs = EXPECTED["dify-" + container.replace("_", "-")]
    assert service["cap_drop"] == ["ALL"]
    assert service.get("cap_add", []) == caps
    assert service["read_only"] is read_only
    assert service.get("tmpfs", []) == tmpfs
    assert service["pids_limit"] > 0


@pytest.mark.parametrize("role, job", [("dify", "init_permissions"), ("anythingllm", "init_storage")])
def test_the_chown_jobs_may_change_owners_and_nothing_else(role, job):
    service = rendered(role)["services"][job]
    assert service["cap_drop"] == ["ALL"] and service["cap_add"] == ["CHOWN", "DAC_READ_SEARCH"]
    assert service["read_only"] is True and service["pids_limit"] == 32


def test_every_role_default_passes_the_plans_checks():
    for role in (*ROLES, "dify"):
        own = role_defaults(role)[f"{role}_hardening"]
        for key, value in inputs.effective_hardening(role, own, {}, per_container=role == "dify").items():
            assert inputs.hardening_problems(f"{role}.hardening.{key}", value, "fix") == [], key
        if role == "dify":
            assert set(own) == set(DIFY_CONTAINERS)


def test_the_global_switch_keeps_only_no_new_privileges_and_what_a_service_adds():
    service = main_service("postgres", rendered("postgres", aiplatform_hardening=False))
    assert not {"cap_drop", "read_only", "tmpfs", "pids_limit"} & set(service)
    assert service["security_opt"] == ["no-new-privileges:true"]
    assert main_service("anythingllm", rendered("anythingllm", aiplatform_hardening=False))["cap_add"] == ["SYS_ADMIN"]
    # as given on the command line (-e aiplatform_hardening=false)
    assert "cap_drop" not in main_service("redis", rendered("redis", aiplatform_hardening="false"))


def test_an_override_loosens_one_field_of_one_container_and_nothing_else():
    overrides = {"n8n": {"read_only": False}, "dify-nginx": {"tmpfs": ["/var/cache/nginx", "/var/lib/nginx"]}}
    n8n = main_service("n8n", rendered("n8n", aiplatform_hardening_overrides=overrides))
    assert n8n["read_only"] is False and n8n["cap_drop"] == ["ALL"] and n8n["pids_limit"] == 1024
    dify = rendered("dify", aiplatform_hardening_overrides=overrides)["services"]
    assert dify["nginx"]["tmpfs"] == ["/var/cache/nginx", "/var/lib/nginx"]
    assert dify["nginx"]["cap_add"] == EXPECTED["dify-nginx"][0] and dify["nginx"]["read_only"] is True
    assert "tmpfs" not in dify["api"]


def test_enabled_false_turns_one_container_off_but_keeps_its_added_capabilities():
    overrides = {"anythingllm": {"enabled": False}}
    service = main_service("anythingllm", rendered("anythingllm", aiplatform_hardening_overrides=overrides))
    assert "cap_drop" not in service and "read_only" not in service and "pids_limit" not in service
    assert service["cap_add"] == ["SYS_ADMIN"]


def test_a_hostile_tmpfs_path_stays_one_string_in_the_file():
    # the plan rejects it first; the template still cannot be talked into adding a key
    path = '/tmp"\nprivileged: true\nx: "'
    service = main_service("redis", rendered("redis", aiplatform_hardening_overrides={"redis": {"tmpfs": [path]}}))
    assert service["tmpfs"] == [path] and "privileged" not in service


def test_the_lab_overrides_name_real_containers_and_pass_the_checks():
    for inventory in ("lab", "lab-multihost"):
        with open(os.path.join(ROOT, "inventories", inventory, "group_vars", "aiplatform.yml")) as fh:
            overrides = yaml.safe_load(fh)["aiplatform_hardening_overrides"]
        catalog = {"dify": {"hardening": inputs.effective_hardening(
            "dify", role_defaults("dify")["dify_hardening"], overrides, per_container=True)}}
        assert inputs.hardening_override_problems(overrides, catalog, ["dify"]) == []
        for key, value in catalog["dify"]["hardening"].items():
            assert inputs.hardening_problems(key, value, "fix") == []
        # squid as the role has it: its log daemon (the proxy user) cannot write logs into a root-owned tmpfs
        assert catalog["dify"]["hardening"]["dify-ssrf-proxy"]["read_only"] is False
        assert "/var/lib/nginx" in catalog["dify"]["hardening"]["dify-nginx"]["tmpfs"]


# -- the plan's checks: each problem names the service, the field and the fix ----------------------------------------

def postgres_problems(**fields):
    own = dict(role_defaults("postgres")["postgres_hardening"], **fields)
    svc = {"hardening": inputs.effective_hardening("postgres", own, {})}
    return inputs.service_input_problems("postgres", svc)


@pytest.mark.parametrize("caps, expected", [
    (["CHWON"], "'CHWON' is not a Linux capability (did you mean CHOWN?)"),
    (["CAP_CHOWN"], "'CAP_CHOWN' is not a Linux capability (did you mean CHOWN?)"),
    (["ALL"], "ALL gives every capability back"),
    (["SYS_ADMIN\nprivileged: true"], "is not a Linux capability"),
    ([7], "7 is not a Linux capability"),
    ("CHOWN", "must be a list of capability names"),
])
def test_a_bad_capability_names_service_field_and_fix(caps, expected):
    problems = postgres_problems(cap_add=caps)
    assert len(problems) == 1, problems
    assert problems[0].startswith("postgres.hardening.postgres.cap_add: ")
    assert expected in problems[0]
    assert problems[0].endswith("fix postgres_hardening or aiplatform_hardening_overrides.postgres in the inventory")


def test_lower_case_capability_names_are_accepted_and_written_upper_case():
    assert postgres_problems(cap_add=["chown"]) == []
    overrides = {"redis": {"cap_add": ["chown", "setuid"]}}
    assert main_service("redis", rendered("redis", aiplatform_hardening_overrides=overrides))["cap_add"] == \
        ["CHOWN", "SETUID"]


@pytest.mark.parametrize("path", ["tmp", "./tmp", "/", "/tmp/../etc", "/tmp:rw,exec", "/my dir", "", None,
                                  "/tmp\nprivileged: true"])
def test_a_tmpfs_path_must_be_absolute_and_one_path(path):
    problems = postgres_problems(tmpfs=[path])
    assert len(problems) == 1 and problems[0].startswith("postgres.hardening.postgres.tmpfs: "), problems
    assert "is not an absolute path inside the container" in problems[0]
    assert "aiplatform_hardening_overrides.postgres" in problems[0]


@pytest.mark.parametrize("limit", [0, -1, True, "100", 1.5, None])
def test_pids_limit_is_a_positive_integer(limit):
    problems = postgres_problems(pids_limit=limit)
    assert len(problems) == 1 and problems[0].startswith("postgres.hardening.postgres.pids_limit: "), problems
    assert "must be a positive integer" in problems[0]


def test_a_mistyped_field_or_a_non_bool_is_named():
    problems = postgres_problems(read_onyl=True, enabled="no")
    assert any(p.startswith("postgres.hardening.postgres.read_onyl: unknown field; did you mean read_only?")
               for p in problems), problems
    assert any(p.startswith("postgres.hardening.postgres.enabled: 'no' must be true or false") for p in problems)


def test_a_dify_container_problem_names_its_variable():
    own = dict(role_defaults("dify")["dify_hardening"])
    svc = {"hardening": inputs.effective_hardening("dify", own, {"dify-ssrf-proxy": {"cap_add": ["SETUDI"]}},
                                                   per_container=True)}
    problems = inputs.service_input_problems("dify", svc)
    assert problems == ["dify.hardening.dify-ssrf-proxy.cap_add: 'SETUDI' is not a Linux capability (did you mean "
                        "SETUID?); fix dify_hardening.ssrf_proxy or aiplatform_hardening_overrides.dify-ssrf-proxy in "
                        "the inventory"]


def test_an_override_for_an_unknown_container_is_named_with_the_closest():
    catalog = {"n8n": {"hardening": {"n8n": {}}}, "dify": {"hardening": {"dify-nginx": {}, "dify-api": {}}}}
    problems = inputs.hardening_override_problems({"dify-ngnix": {"read_only": False}}, catalog, ["n8n", "dify"])
    assert problems == ["plan.aiplatform_hardening_overrides.dify-ngnix: not a container of an enabled service; "
                        "did you mean dify-nginx?"]
    assert inputs.hardening_override_problems({"n8n": {}}, catalog, ["n8n"]) == []
    assert inputs.hardening_override_problems("n8n", catalog, ["n8n"])


def test_overrides_merge_field_by_field():
    own = {"cap_add": ["CHOWN"], "read_only": True, "tmpfs": ["/tmp"], "pids_limit": 10}
    assert inputs.effective_hardening("x", own, {"x": {"read_only": False}}) == \
        {"x": {"cap_add": ["CHOWN"], "read_only": False, "tmpfs": ["/tmp"], "pids_limit": 10}}
    assert inputs.effective_hardening("x", own, None) == {"x": own}
    with pytest.raises(inputs.InputError):
        inputs.effective_hardening("x", own, ["x"])


def test_an_override_for_a_service_not_enabled_in_this_run_waits_for_the_run_that_enables_it():
    # one inventory, many runs: the lab's override of Dify's nginx must not fail a run of the core services
    catalog = {"postgres": {"hardening": {"postgres": {}}}}
    others = ["dify", "n8n", "postgres"]
    assert inputs.hardening_override_problems({"dify-nginx": {}, "n8n": {}}, catalog, ["postgres"], others) == []
    assert inputs.hardening_override_problems({"postgress": {}}, catalog, ["postgres"], others) == [
        "plan.aiplatform_hardening_overrides.postgress: not a container of an enabled service; did you mean postgres?"]
