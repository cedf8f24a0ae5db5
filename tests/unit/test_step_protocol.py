"""The deploy step's protocol (module_utils/step_protocol.py) held against the deploy_step module's DOCUMENTATION and
RETURN, and against what the scheduler really sends: the argument spec, the TypedDicts and the documentation are one
contract, and none of them can change alone."""
from __future__ import annotations

import random
import re
import typing

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.aiplatform.stack.plugins.module_utils import step_protocol as sp
from ansible_collections.aiplatform.stack.plugins.modules import deploy_step as module
from ansible_collections.aiplatform.stack.plugins.plugin_utils.scheduler import Scheduler

from .test_action_deploy_platform import STEP, FakeDeployHost, deploy, two
from .test_scheduler import SEED, Clock, FakeHost, service

DOC = yaml.safe_load(module.DOCUMENTATION)
RETURN = yaml.safe_load(module.RETURN)
# Ansible's own return values, documented by Ansible, not by the module
COMMON_RETURN = {"warnings"}
# the Python type of a value of each argument spec type
SPEC_TYPES = {"str": str, "path": str, "int": int, "float": float, "bool": bool, "list": list, "dict": dict}


def _levels(spec: dict, path: str = ""):
    """(path, options) of every level of an argument spec that declares options, the top one first."""
    yield path, spec
    for name, option in spec.items():
        if option.get("options"):
            yield from _levels(option["options"], f"{path}{name}.")


def _bare(hint):
    """The type inside Optional[...]."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if typing.get_origin(hint) is typing.Union and len(args) == 1 else hint


def _typed_dict_of(hint):
    """The TypedDict a hint holds (itself, or the elements of a list of them), or None."""
    hint = _bare(hint)
    if typing.get_origin(hint) is list:
        hint = _bare(typing.get_args(hint)[0])
    return hint if typing.is_typeddict(hint) else None


def _typed_levels(spec: dict, typed, path: str = ""):
    """(path, options, TypedDict) of every level with options, the TypedDict found through the request's hints."""
    yield path, spec, typed
    hints = typing.get_type_hints(typed)
    for name, option in spec.items():
        if option.get("options"):
            assert name in hints, f"{typed.__name__} has no {name}"
            inner = _typed_dict_of(hints[name])
            assert inner is not None, f"{path}{name}: declares options but {typed.__name__}.{name} is no TypedDict"
            yield from _typed_levels(option["options"], inner, f"{path}{name}.")


# -- (a) the argument spec and DOCUMENTATION's options -----------------------------------------------------------

def _doc_drift(spec: dict, doc: dict, path: str = "") -> list[str]:
    """Every difference between an argument spec level and its documented options, recursively."""
    found = [f"{path}{n}: in the argument spec, not documented" for n in sorted(set(spec) - set(doc))]
    found += [f"{path}{n}: documented, not in the argument spec" for n in sorted(set(doc) - set(spec))]
    for name in sorted(set(spec) & set(doc)):
        option, documented = spec[name], doc[name]
        assert documented.get("description"), f"{path}{name} has no description"
        for key, default in (("type", "str"), ("elements", None), ("required", False), ("default", None),
                             ("choices", None)):
            if option.get(key, default) != documented.get(key, default):
                found.append(f"{path}{name}: {key} {option.get(key, default)!r} in the spec, "
                             f"{documented.get(key, default)!r} documented")
        found += _doc_drift(option.get("options") or {}, documented.get("suboptions") or {}, f"{path}{name}.")
    return found


def test_every_option_of_the_argument_spec_is_documented_alike_and_nothing_else_is():
    assert _doc_drift(sp.ARGUMENT_SPEC, DOC["options"]) == []


def test_the_module_takes_its_argument_spec_from_the_protocol():
    assert "argument_spec=step_protocol.ARGUMENT_SPEC" in open(module.__file__).read()


# -- (b) the request's TypedDicts and the argument spec ----------------------------------------------------------

def test_the_request_types_have_the_options_of_the_argument_spec_at_every_level():
    levels = list(_typed_levels(sp.ARGUMENT_SPEC, sp.StepRequest))
    assert [p for p, dummy, dummy2 in levels] == [p for p, dummy in _levels(sp.ARGUMENT_SPEC)]
    for path, options, typed in levels:
        assert set(typed.__annotations__) == set(options), (path or "top", typed.__name__)
        # what the spec requires is required in the type; what it lets out is optional there
        required = {n for n, o in options.items() if o.get("required")}
        assert typed.__required_keys__ == required, (path or "top", typed.__name__)


def test_the_request_types_have_the_python_type_of_each_option():
    for path, options, typed in _typed_levels(sp.ARGUMENT_SPEC, sp.StepRequest):
        hints = typing.get_type_hints(typed)
        for name, option in options.items():
            hint = _bare(hints[name])
            origin = typing.get_origin(hint) or (dict if typing.is_typeddict(hint) else hint)
            assert origin is SPEC_TYPES[option.get("type", "str")], f"{path}{name}: {hint}"
            if option.get("elements"):
                element = _bare(typing.get_args(hint)[0])
                element = typing.get_origin(element) or (dict if typing.is_typeddict(element) else element)
                assert element is SPEC_TYPES[option["elements"]], f"{path}{name}: {hint}"


@pytest.mark.parametrize("name", ["probe", "wiring", "models", "release_lock_if_settled"])
def test_the_keys_documented_for_a_free_form_part_are_keys_of_its_type(name):
    # these parts declare no suboptions (the host reads them as they come): their description names the keys
    typed = _typed_dict_of(typing.get_type_hints(sp.StepRequest)[name])
    description = DOC["options"][name]["description"]
    named = set(re.findall(r"C\((\w+)\)", " ".join(description) if isinstance(description, list) else description))
    assert named and named <= set(typed.__annotations__), (name, named - set(typed.__annotations__))


# -- (c) the response's TypedDicts and RETURN --------------------------------------------------------------------

def test_the_response_type_has_the_keys_that_return_documents():
    assert set(sp.StepResult.__annotations__) - COMMON_RETURN == set(RETURN)
    # the scheduler's view adds only what Ansible and the module's failure add
    assert set(sp.StepResponse.__annotations__) - set(sp.StepResult.__annotations__) == {
        "changed", "failed", "msg", "category"}


def _sample_drift(value, hint, path: str) -> list[str]:
    """Where a documented sample does not fit the type (an unknown key, a wrong kind of value)."""
    hint = _bare(hint)
    if hint is typing.Any:
        return []
    if typing.is_typeddict(hint):
        if not isinstance(value, dict):
            return [f"{path}: {value!r} is not a {hint.__name__}"]
        hints = typing.get_type_hints(hint)
        found = [f"{path}.{k}: not a key of {hint.__name__}" for k in sorted(set(value) - set(hints))]
        return found + [f for k in sorted(set(value) & set(hints)) for f in _sample_drift(value[k], hints[k], f"{path}.{k}")]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{path}: {value!r} is not a dict"]
        return [f for k, v in value.items() for f in _sample_drift(v, args[1], f"{path}.{k}")]
    if origin is list:
        if not isinstance(value, list):
            return [f"{path}: {value!r} is not a list"]
        return [f for i, v in enumerate(value) for f in _sample_drift(v, args[0], f"{path}[{i}]")]
    return [] if isinstance(value, hint) else [f"{path}: {value!r} is not a {hint.__name__}"]


@pytest.mark.parametrize("name", sorted(RETURN))
def test_each_documented_return_value_fits_its_type(name):
    hint = typing.get_type_hints(sp.StepResult)[name]
    origin = typing.get_origin(_bare(hint)) or (dict if typing.is_typeddict(_bare(hint)) else _bare(hint))
    assert origin is SPEC_TYPES[RETURN[name]["type"]], (name, hint)
    assert "sample" in RETURN[name], name
    assert _sample_drift(RETURN[name]["sample"], hint, name) == []


# -- (d) what the scheduler really sends validates against the argument spec ------------------------------------

def _errors(request: dict) -> list[str]:
    return ArgumentSpecValidator(sp.ARGUMENT_SPEC).validate(request).error_messages


def _scheduler_requests() -> list[dict]:
    """Every request of a few scheduler runs on test_scheduler's fake host that between them send every part: a
    rollback, a crash loop stopped, a dependency on another host with PostgreSQL logins, databases, models, links,
    first administrators, virtual keys, polls and the run lock."""
    requests = []
    for crash in ({"previous_ready_after": 1.0}, {}):  # rolled back, then stopped
        clock = Clock()
        specs = {n: {"ready_after": 1.0} for n in SEED}
        specs["redis"] = {"remote_ready_at": 3.0}  # runs on another host
        specs["flowise"].update(crash=True, **crash)
        host = FakeHost(clock, specs)

        def step(request: dict, host=host) -> dict:
            out = host.step(request)
            out["admins"] = {a["service"]: {"ok": True, "changed": True, "action": "created"}
                             for a in request.get("admins") or []}
            out["virtual_keys"] = {k["service"]: {"ok": True, "changed": False, "actions": {}}
                                   for k in request.get("virtual_keys") or []}
            return out

        local = [service(n, list(SEED.get(n, [])), wiring=True) for n in SEED if n != "redis"]
        for s in local:
            s.project = dict(s.project, files={"compose.yml": {"content": "services: {}\n", "mode": "0644"}},
                             secret_files={".env": {"content": "A=b\n", "mode": "0600"}}, probe={"type": "http"},
                             target=s.name, model={"services": {}})
            if s.name == "postgres":
                s.databases = {"container": "aiplatform-postgres", "admin_user": "postgres",
                               "databases": [{"name": "n8n", "owner": "n8n", "password": "pw", "extensions": []}]}
            if s.name == "n8n":
                s.admin = {"kind": "n8n", "target": "n8n", "port": 5678, "email": "a@example.org",
                           "name": "Platform Admin", "password": "pw", "secrets_file": "/s/n8n.json", "wait": 30.0}
            if s.name == "litellm":
                s.virtual_keys = {"target": "litellm", "port": 4000, "master_key": "mk", "secrets_file": "/s/l.json",
                                  "applications": [{"alias": "n8n", "key": "sk-1", "models": []}]}
        remote = {"redis": {"host": "10.0.0.5", "port": 6379, "probe": {"type": "tcp"}, "type": "infrastructure",
                            "backoff": {"initial": 0.5, "base": 0.5, "factor": 2, "cap": 2, "deadline": 60.0},
                            "logins": [{"user": "u", "password": "p", "database": "d"}]}}
        Scheduler(local, step, lambda event: None, remote=remote, clock=clock, wall=clock,
                  rng=random.Random(1), lock={"dir": "/opt/aiplatform", "run": "r1"}).run()
        requests += host.requests
    return requests


def test_every_request_the_scheduler_sends_validates_against_the_argument_spec():
    requests = _scheduler_requests()
    sent = {part for r in requests for part in r}
    assert sent == set(sp.ARGUMENT_SPEC) - {"pull", "networks", "parallel", "log_lines"}  # those: the action's
    for request in requests:
        assert _errors(request) == [], request


def test_the_request_the_action_renders_and_sends_validates_against_the_argument_spec(tmp_path):
    dummy, host = deploy(tmp_path, two(tmp_path), {"app": ["db"]}, host=FakeDeployHost(changed={"app"}),
                         parallel=4, pull="always")
    requests = host.sent(STEP)
    assert requests and all(r["pull"] == "always" for r in requests)
    for request in requests:
        assert _errors(request) == [], request


def test_the_validator_does_refuse_what_the_spec_does_not_declare():
    # the check above would mean nothing if the validator let anything through
    project = {"service": "a", "project_src": "/a", "project_name": "a"}
    assert _errors({"check": [project]}) == []
    assert _errors({"check": [dict(project, start_if_chnaged=True)]})
    assert _errors({"check": [{"service": "a", "project_src": "/a"}]})
