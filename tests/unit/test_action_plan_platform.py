"""plan_platform's action run before anything changes: the catalog, the dependency waves and the facts it hands to
the playbook, or every problem at once as events naming the service, and a failure that changed nothing."""

from ansible_collections.aiplatform.stack.plugins.action import plan_platform

from .action_harness import run_action, types_of
from .render_roles import role_defaults

try:  # ansible-core 2.19+: inventory values are templates once trusted (as the inventory's are in a run)
    from ansible.template import trust_as_template
except ImportError:  # before 2.19 every string is a template already
    def trust_as_template(value):
        return value

APP = {"image": "lab/app:1", "port": 8000, "depends_on": ["cache"]}
CACHE = {"image": "lab/cache:1", "port": 6379}
WORKER = {"image": "lab/worker:1", "port": 9100}


def task_vars(host="node1", hosts=("node1",), **more):
    return {"inventory_hostname": host, "groups": {"aiplatform": list(hosts), "all": list(hosts)},
            "hostvars": {h: {} for h in hosts}, "ansible_play_hosts": list(hosts), **more}


def plan(custom, variables=None, **args):
    """Plan the custom services `custom` (services described in the inventory only: no role to load)."""
    args = {"services": [], "custom_services": custom, **args}
    return run_action(plan_platform, args, lambda name, module_args: {}, variables or task_vars())[0]


def test_a_valid_platform_is_ordered_into_waves_and_handed_over_as_facts():
    result = plan({"app": APP, "cache": CACHE, "worker": WORKER})
    assert not result.get("failed") and result["changed"] is False and result["events"] == []
    assert result["waves"] == [["cache", "worker"], ["app"]]
    facts = result["ansible_facts"]
    assert facts["aiplatform_waves"] == result["waves"] and facts["aiplatform_deploying"] == ["cache", "worker", "app"]
    assert facts["aiplatform_dependency_map"] == {"app": ["cache"], "cache": [], "worker": []}
    assert sorted(facts["aiplatform_enabled"]) == ["app", "cache", "worker"]
    assert facts["aiplatform_catalog"]["app"]["project"] == "aiplatform-app"
    assert facts["aiplatform_catalog"]["app"]["images"] == {"app": "lab/app:1"}


def test_one_at_a_time_makes_a_wave_of_each_service_in_the_same_order():
    result = plan({"app": APP, "cache": CACHE, "worker": WORKER}, one_at_a_time=True)
    assert result["waves"] == [["cache"], ["worker"], ["app"]]


def test_only_some_services_deploy_those_with_what_they_need():
    result = plan({"app": APP, "cache": CACHE, "worker": WORKER}, only=["app", "not-enabled"])
    assert result["ansible_facts"]["aiplatform_deploying"] == ["cache", "app"]
    assert sorted(result["ansible_facts"]["aiplatform_enabled"]) == ["app", "cache", "worker"]


def test_a_custom_service_depends_on_what_it_declares_and_the_map_is_kept_to_enabled_services():
    result = plan({"app": APP, "cache": CACHE}, dependencies={"app": [], "cache": ["app"], "gone": ["app"]})
    assert result["ansible_facts"]["aiplatform_dependency_map"] == {"app": ["cache"], "cache": []}
    assert result["waves"] == [["cache"], ["app"]]


def test_a_dependency_cycle_fails_with_its_path_and_nothing_is_planned():
    result = plan({"app": APP, "cache": dict(CACHE, depends_on=["app"])})
    assert result["failed"] and result["category"] == "config" and result["changed"] is False
    assert "cycle app -> cache -> app" in result["msg"] and "nothing was changed" in result["msg"]
    assert "ansible_facts" not in result and "waves" not in result
    (event,) = result["events"]
    assert event["type"] == "CONFIG_INVALID" and event["service"] == "plan" and event["category"] == "config"


def test_a_dependency_on_an_unknown_service_fails_naming_both():
    result = plan({"app": dict(APP, depends_on=["nope"])})
    assert result["failed"] and "'app' depends on unknown service 'nope'" in result["msg"]


def test_two_services_claiming_one_host_port_are_a_port_conflict_naming_the_service():
    result = plan({"app": dict(APP, published_port=9000), "cache": dict(CACHE, published_port=9000)})
    assert result["failed"] and "port 9000 on node1 is also claimed by" in result["msg"]
    (event,) = result["events"]
    assert event["type"] == "PORT_CONFLICT" and event["category"] == "port" and event["service"] in ("app", "cache")


def test_an_invalid_description_is_a_config_event_of_that_service():
    result = plan({"app": APP, "cache": CACHE, "bare": {"image": "lab/bare:1"}})
    assert result["failed"] and "bare.probe.type" in result["msg"]
    (event,) = result["events"]
    assert event["type"] == "CONFIG_INVALID" and event["service"] == "bare" and event["host"] == "node1"


def test_every_problem_is_said_at_once():
    result = plan({"app": dict(APP, published_port=9000), "cache": dict(CACHE, published_port=9000),
                   "bare": {"image": "lab/bare:1"}})
    assert types_of(result) == ["PORT_CONFLICT", "CONFIG_INVALID"]
    assert result["msg"].count("\n- ") == 2


def test_only_the_first_host_of_the_play_reports_so_each_problem_is_said_once():
    custom = {"app": dict(APP, depends_on=["nope"])}
    first = plan(custom, task_vars("node1", ("node1", "node2")))
    second = plan(custom, task_vars("node2", ("node1", "node2")))
    assert len(first["events"]) == 1 and second["events"] == []
    assert second["failed"] and second["msg"] == first["msg"]  # every host still fails


def test_extra_links_are_added_to_the_consumers_links():
    result = plan({"app": APP, "cache": CACHE}, extra_links={"app": [{"service": "cache", "port": "main"}]})
    assert result["ansible_facts"]["aiplatform_catalog"]["app"]["connects_to"] == [{"service": "cache", "port": "main"}]


def test_an_extra_link_of_a_service_that_is_not_enabled_fails_naming_it():
    result = plan({"app": APP, "cache": CACHE}, extra_links={"ghost": [{"service": "cache", "port": "main"}]})
    assert result["failed"] and "aiplatform_extra_links.ghost: not an enabled service" in result["msg"]


def test_a_misspelt_variable_of_a_service_role_is_named_unless_strict_variables_is_off():
    # redis has a role: its variables are known from its argument spec and vars
    variables = dict(role_defaults("aiplatform"), **task_vars(redis_memory_limitt="1g"))
    strict = run_action(plan_platform, {"services": ["redis"]}, lambda name, module_args: {}, variables)[0]
    assert strict["failed"] and "redis.redis_memory_limitt: unknown variable for redis" in strict["msg"]
    lax = run_action(plan_platform, {"services": ["redis"], "strict_variables": False},
                     lambda name, module_args: {}, variables)[0]
    assert "redis_memory_limitt" not in lax.get("msg", "")


def test_a_role_option_that_cannot_be_templated_is_a_problem_naming_the_service_not_a_crash():
    variables = dict(role_defaults("aiplatform"), **task_vars(redis_image=trust_as_template("{{ no_such_mirror }}/redis:7")))
    result = run_action(plan_platform, {"services": ["redis"]}, lambda name, module_args: {}, variables)[0]
    assert result["failed"] and "redis" in result["msg"] and "no_such_mirror" in result["msg"]


def test_each_host_gets_its_part_of_the_plan_once_for_every_playbook():
    # worker runs on the gpu group's host, app and cache on the aiplatform group's: each host's plan holds its own
    worker = dict(WORKER, host_group="gpu", depends_on=["cache"])
    app = dict(APP, connects_to=[{"service": "cache", "port": "main"}], published_port=8000)
    groups = {"aiplatform": ["node1"], "gpu": ["node2"], "all": ["node1", "node2"]}
    plans = {}
    for host in ("node1", "node2"):
        variables = dict(task_vars(host, ("node1", "node2")), groups=groups)
        result = plan({"app": app, "cache": CACHE, "worker": worker}, variables, network="aip")
        assert not result.get("failed"), result
        plans[host] = result["ansible_facts"]["aiplatform_host_plan"]
        catalog = result["ansible_facts"]["aiplatform_catalog"]
    assert plans["node1"]["enabled"] == ["app", "cache"] and plans["node2"]["enabled"] == ["worker"]
    assert plans["node1"]["waves"] == [["cache"], ["app"]] and plans["node2"]["waves"] == [["worker"]]
    assert plans["node1"]["deploying"] == ["cache", "app"] and plans["node1"]["teardown"] == ["app", "cache"]
    # one graph for deploy and recover: what each service here needs, wherever that runs
    assert plans["node1"]["dependencies"] == {"cache": [], "app": ["cache"]}
    assert plans["node2"]["dependencies"] == {"worker": ["cache"]}  # on node1: probed there by the deploy
    # app's link to cache is a network of its own on node1, named with the platform's prefix; node2 needs none
    assert plans["node1"]["networks"] == ["aip-cache.app"] and plans["node2"]["networks"] == []
    assert plans["node1"]["secrets"] == {"cache": catalog["cache"]["secrets"], "app": catalog["app"]["secrets"]}
    assert [(p["service"], p["port"]) for p in plans["node1"]["ports"]] == [("app", 8000)]
    assert plans["node2"]["ports"] == []


def test_only_some_services_leave_the_rest_enabled_on_the_host_but_out_of_the_run():
    result = plan({"app": APP, "cache": CACHE, "worker": WORKER}, only=["cache"])
    host_plan = result["ansible_facts"]["aiplatform_host_plan"]
    assert host_plan["deploying"] == ["cache"] and host_plan["teardown"] == ["cache"]
    assert sorted(host_plan["enabled"]) == ["app", "cache", "worker"]  # what the host holds: not orphaned


def test_each_service_reaches_its_declared_links_through_the_plan_and_an_unreachable_one_fails_it():
    # app and cache on node1, worker on node2: app reaches cache's container over their link, worker node1's address
    groups = {"aiplatform": ["node1"], "gpu": ["node2"], "all": ["node1", "node2"]}
    link = [{"service": "cache", "port": "main"}]
    hostvars = {"node1": {"ansible_host": "10.0.0.5"}, "node2": {}}

    def plan_on(host, cache):
        services = {"app": dict(APP, connects_to=link), "cache": cache,
                    "worker": dict(WORKER, host_group="gpu", connects_to=link)}
        variables = dict(task_vars(host, ("node1", "node2")), groups=groups, hostvars=hostvars)
        return plan(services, variables)

    published = dict(CACHE, published_port=16379)
    node1 = plan_on("node1", published)["ansible_facts"]["aiplatform_host_plan"]["endpoints"]
    assert node1 == {"app": {"cache": {"main": {"host": "aiplatform-cache", "port": 6379, "local": True}}}, "cache": {}}
    node2 = plan_on("node2", published)["ansible_facts"]["aiplatform_host_plan"]["endpoints"]
    assert node2 == {"worker": {"cache": {"main": {"host": "10.0.0.5", "port": 16379, "local": False}}}}
    # a link nothing can reach: the plan fails before anything changes, naming the consumer and the fix, on every
    # host alike (node1 runs neither end of it), and the first host says so
    for host in ("node1", "node2"):
        failed = plan_on(host, CACHE)
        assert failed["failed"] and failed["category"] == "config"
        assert "worker.connects_to: cache: port 'main' must be published" in failed["msg"]
    assert "CONFIG_INVALID" in types_of(plan_on("node1", CACHE))


def test_a_malformed_link_or_an_unknown_host_group_is_a_plan_problem_not_a_traceback():
    for bad in ({"app": dict(APP, connects_to=["cache"]), "cache": CACHE},
                {"app": dict(APP, connects_to="cache"), "cache": CACHE},
                {"app": dict(APP, host_group="nowhere"), "cache": CACHE}):
        result = plan(bad)
        assert result["failed"] and result["msg"].startswith("invalid platform configuration"), result.get("msg")


def test_a_variable_of_an_earlier_release_is_refused_by_the_plan_whatever_its_value():
    for value in ("7", 0, ""):  # aiplatform_backup_keep: 0 kept every archive: it must not pass unseen
        result = plan({"app": APP}, dict(task_vars(), aiplatform_backup_keep=value, aiplatform_backup_copy_to="b1"))
        assert result["failed"] and result["category"] == "config"
        assert "aiplatform.aiplatform_backup_keep: removed in 0.3: retention is aiplatform_backup_keep_daily" in result["msg"]
        assert "aiplatform.aiplatform_backup_copy_to: removed in 0.3: backups go into a restic repository" in result["msg"]
        assert types_of(result) == ["CONFIG_INVALID", "CONFIG_INVALID"]  # one per variable
