"""True/false arguments of the action plugins as AWX surveys and `-e x=false` send them: text, not booleans.

bool("false") is True: before `flag()`, a survey's `aiplatform_restore_force: "false"` restored over a running
platform. Each action that takes a flag reads it through `flag()`; a value that is neither is a config error naming it.
"""
import glob
import os
import re

import pytest
import yaml

from ansible_collections.aiplatform.stack.plugins.action import platform_backup
from ansible_collections.aiplatform.stack.plugins.plugin_utils.base import FlagError, flag

from .action_harness import run_action
from .test_action_deploy_platform import deploy, two
from .test_action_platform_restore import checked, restore

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize(("value", "expected"), [
    (True, True), (False, False), ("true", True), ("false", False), ("True", True), ("False", False),
    ("yes", True), ("no", False), ("1", True), ("0", False), (1, True), (0, False), ("", None), (None, None)])
def test_a_flag_reads_what_a_survey_or_the_command_line_sends(value, expected):
    assert flag({"x": value}, "x", default="the default") == ("the default" if expected is None else expected)


def test_a_flag_that_is_neither_names_itself():
    with pytest.raises(FlagError, match=r"force: 'maybe' is neither true nor false"):
        flag({"force": "maybe"}, "force")


def test_a_restore_told_force_false_as_text_does_not_overwrite_a_running_platform():
    result, host = restore("check", {"check": checked(running=["aiplatform-web"])}, force="false")
    assert result["failed"] and "aiplatform_restore_force" in result["msg"]  # refused, as with force: false
    forced, host = restore("check", {"check": checked(running=["aiplatform-web"])}, force="true")
    assert not forced.get("failed")


def test_a_restore_with_a_flag_that_is_neither_fails_as_config_naming_it():
    result, host = restore("check", {"check": checked()}, any_version="perhaps")
    assert result["failed"] and result["category"] == "config" and result["msg"].startswith("any_version: 'perhaps'")


def test_a_backup_told_false_as_text_takes_no_optional_volume_and_pauses_nothing():
    catalog = {"web": {"project": "aiplatform-web", "images": {"web": "lab/web:2"},
                       "backup": {"volumes": [{"name": "web_data", "pause": ["aiplatform-web"]},
                                              {"name": "web_cache", "optional": True}]}}}
    args = {"catalog": catalog, "here": ["web"], "enabled": ["web"], "repository": "/srv/restic",
            "secrets_dir": "/srv/secrets", "key": "a-backup-key-long-enough-for-the-rule", "include_optional": "false",
            "pause": "false"}
    answer = {"run": "r", "snapshot": "s", "size": 1, "added": 1, "forgotten": []}
    result, host = run_action(platform_backup, args, lambda name, module_args: answer, {"inventory_hostname": "n1"})
    (sent,) = host.sent("aiplatform.stack.platform_archive")
    assert [v["name"] for v in sent["plan"]["volumes"]] == ["web_data"] and sent["pause"] is False


def test_a_deploy_with_a_flag_that_is_neither_fails_before_the_host_is_asked(tmp_path):
    result, host = deploy(tmp_path, two(tmp_path), {"app": ["db"]}, rollback="maybe")
    assert result["failed"] and result["category"] == "config" and "rollback: 'maybe'" in result["msg"]
    assert host.calls == []
    result, host = deploy(tmp_path, two(tmp_path), {"app": ["db"]}, rollback="false", serial="false")
    assert not result.get("failed") and host.calls


def test_every_bool_option_of_an_action_is_read_through_flag():
    """An action's options of type bool (its module's DOCUMENTATION) are read with flag(), never straight from args."""
    read_raw = []
    for path in glob.glob(os.path.join(ROOT, "plugins", "action", "*.py")):
        name = os.path.basename(path)
        doc_path = os.path.join(ROOT, "plugins", "modules", name)
        if not os.path.exists(doc_path):
            continue
        doc = re.search(r'DOCUMENTATION = r"""(.*?)"""', open(doc_path).read(), re.S).group(1)
        options = (yaml.safe_load(doc) or {}).get("options") or {}
        source = open(path).read()
        for option in (o for o, spec in options.items() if spec.get("type") == "bool"):
            if re.search(rf'args\.get\("{option}"|args\["{option}"\]', source):
                read_raw.append(f"{name}: {option}")
    assert not read_raw, read_raw


def test_every_action_flag_goes_through_flag():
    for path in glob.glob(os.path.join(ROOT, "plugins", "action", "*.py")):
        source = open(path).read()
        # neither bool() of an argument nor an argument's truth read straight from args
        assert not re.search(r"bool\(args|if args\.get\(\"\w+\", True\)|args\.get\(\"\w+\", True\) and", source), path


def bool_options():
    """Every role option of type bool (meta/argument_specs.yml of each role)."""
    names = set()
    for path in glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")):
        for entry in (yaml.safe_load(open(path)).get("argument_specs") or {}).values():
            names |= {name for name, spec in (entry.get("options") or {}).items() if spec.get("type") == "bool"}
    return names


def conditions(node):
    """Every `when`, `failed_when` and `changed_when` of a play or task list, blocks included."""
    if isinstance(node, list):
        for item in node:
            yield from conditions(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in ("when", "failed_when", "changed_when"):
                yield from (value if isinstance(value, list) else [value])
            elif isinstance(value, (list, dict)):
                yield from conditions(value)


def test_every_condition_on_a_flag_reads_it_with_the_bool_filter():
    """`when: aiplatform_remove_orphans` is true for the text "false" an AWX survey sends; `| bool` reads it right."""
    flags = bool_options()
    assert {"aiplatform_restore_force", "aiplatform_remove_orphans", "aiplatform_orphans_only"} <= flags
    bare = []
    files = glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml")) + glob.glob(os.path.join(ROOT, "playbooks", "*.yml"))
    for path in files:
        for condition in conditions(yaml.safe_load(open(path))):
            for name in flags:
                for found in re.finditer(rf"\b{name}\b(?!\s*\|\s*bool)", str(condition)):
                    bare.append(f"{os.path.relpath(path, ROOT)}: {condition!r} ({found.group(0)})")
    assert not bare, "\n".join(bare)


def test_every_template_and_role_variable_reads_a_flag_with_the_bool_filter():
    """`{% if n8n_queue_mode %}` is true for the text "false": the roles' templates and vars read flags with `| bool`
    (passing one whole to an action or module, `"{{ flag }}"`, is left to flag() and the module's argument spec)."""
    flags = bool_options()
    bare = []
    files = glob.glob(os.path.join(ROOT, "roles", "*", "templates", "*")) + glob.glob(
        os.path.join(ROOT, "roles", "*", "vars", "*.yml"))
    for path in files:
        for number, line in enumerate(open(path), 1):
            if line.lstrip().startswith("#"):
                continue
            for name in flags:
                if re.search(rf"\{{\{{\s*{name}\s*\}}\}}", line):
                    continue
                if re.search(rf"\b{name}\b(?!\s*(\|\s*default\([^)]*\)\s*)?\|\s*bool)(?!\s*:)", line):
                    bare.append(f"{os.path.relpath(path, ROOT)}:{number}: {line.strip()}")
    assert not bare, "\n".join(bare)


def test_a_role_flag_sent_as_the_text_false_renders_off():
    from .render_roles import render
    from .test_least_privilege import SECRETS, read_env_file
    common = {"n8n_redis_user": "n8n", "n8n_redis_password": SECRETS["user_n8n"],
              "aiplatform_secrets": {"n8n": {"encryption_key": "k", "db_password": "p"}}}
    off = read_env_file(render("n8n", "n8n.env.j2", n8n_queue_mode="false", **common))
    on = read_env_file(render("n8n", "n8n.env.j2", n8n_queue_mode="true", **common))
    assert "QUEUE_BULL_REDIS_USERNAME" not in off and on["QUEUE_BULL_REDIS_USERNAME"] == "n8n"
