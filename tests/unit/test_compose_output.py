"""Compose output parsing and error categories, against outputs recorded from Compose v2.40.3 on engine 20.10."""
import os

import pytest

from ansible_collections.aiplatform.stack.plugins.module_utils import compose, errors

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "compose")


def recorded(name):
    with open(os.path.join(FIXTURES, name + ".stderr")) as fh:
        err = fh.read()
    with open(os.path.join(FIXTURES, name + ".stdout")) as fh:
        out = fh.read()
    return out, err


@pytest.mark.parametrize("name, category, cause", [
    ("up_port_conflict", "port", "Bind for 127.0.0.1:16379 failed: port is already allocated"),
    ("up_missing_image", "image", "no such host"),
    ("up_missing_image_never_pull", "image", "No such image: aiplatform-lab/nosuchimage:1.0"),
    ("up_bad_key", "config", "additional properties 'portz' not allowed"),
    ("up_bad_yaml", "config", "yaml: line 1"),
    ("up_missing_env_file", "config", "missing.env not found"),
    ("up_engine_down", "engine", "Cannot connect to the Docker daemon"),
])
def test_recorded_failures_get_their_category_and_real_cause(name, category, cause):
    out, err = recorded(name)
    info = compose.failure(1, out, err)
    assert info["category"] == category
    assert cause in info["cause"]
    assert not info["cause"].lower().startswith("error response from daemon")
    assert info["advice"]


def test_recorded_progress_parses_completely():
    out, err = recorded("up_port_conflict")
    progress = compose.parse_progress(err)
    assert progress.other == []  # every line understood
    assert {"id": "Container ct2-r2-1", "status": "Starting"} in progress.steps
    out, err = recorded("up_ok_noop")
    assert compose.parse_progress(err).errors == []


def test_unknown_output_is_kept_for_a_warning():
    progress = compose.parse_progress('{"id":"x","status":"Started"}\nsomething new\n')
    assert progress.other == ["something new"] and progress.started == ["x"]


def test_unmatched_text_is_unknown():
    assert errors.classify("the moon is made of cheese") == errors.UNKNOWN


def _c(service, state="running", hash_="h1", oneshot=False, code=0):
    labels = f"com.docker.compose.service={service},{compose.HASH_LABEL}={hash_}"
    if oneshot:
        labels += f",{compose.ONESHOT_LABEL}=true"
    return {"Service": service, "State": state, "Labels": labels, "ExitCode": code}


def test_drift():
    assert compose.drift(["a"], "h1", [_c("a")]) == []
    assert compose.drift(["a", "b"], "h1", [_c("a")]) == ["b"]  # missing
    assert compose.drift(["a"], "h2", [_c("a")]) == ["a"]  # other config
    assert compose.drift(["a"], "h1", [_c("a", state="exited", code=1)]) == ["a"]  # stopped
    assert compose.drift(["init"], "h1", [_c("init", state="exited", oneshot=True)]) == []  # finished job
    assert compose.drift(["init"], "h1", [_c("init", state="exited", oneshot=True, code=2)]) == ["init"]


def test_parse_ps_both_shapes():
    assert compose.parse_ps('[{"Service":"a"}]') == [{"Service": "a"}]
    assert compose.parse_ps('{"Service":"a"}\n{"Service":"b"}\n') == [{"Service": "a"}, {"Service": "b"}]
    assert compose.parse_ps("") == []
