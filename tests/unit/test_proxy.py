"""The HTTPS front door: routes and public URLs, the Caddyfile of each certificate mode, the plan's checks of its
inputs, the proxy's links, and the certificate expiry read by the status."""
import datetime as dt
import os
import shutil
import subprocess

import pytest
import yaml

from ansible_collections.aiplatform.stack.plugins.module_utils import certificates, inputs
from ansible_collections.aiplatform.stack.plugins.plugin_utils import catalog as cat
from ansible_collections.aiplatform.stack.plugins.plugin_utils import config_checks, host_plan, needs, proxy

from .render_roles import ROOT, render, role_defaults

ENABLED = ["postgres", "redis", "ollama", "litellm", "dify", "n8n", "flowise", "anythingllm", "openwebui", "proxy"]
DEFAULTS = role_defaults("proxy")
ONE_HOST = {"aiplatform": ["h1"]}
PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ0==\n-----END CERTIFICATE-----\n"


def app(name, port, container=None, bind="127.0.0.1", published=None, group="aiplatform"):
    ports = [{"name": "http", "container": port, "published": published, "bind": bind}]
    if container:
        ports[0]["container_name"] = container
    return {"name": name, "container": f"aiplatform-{name}", "host_group": group, "ports": ports, "connects_to": []}


def declaring(role: str) -> dict | None:
    """The route a role declares in its description (roles/<role>/vars/main.yml), as written."""
    path = os.path.join(ROOT, "roles", role, "vars", "main.yml")
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return ((yaml.safe_load(fh) or {}).get(f"{role}_service") or {}).get("route")


def routes(enabled=None, custom=None, wanted=None, litellm_api=False, hostnames=None, domain="aiplatform.internal",
           https_port=443):
    """The routes as the plan works them out (needs.routes): from what the enabled roles declare, or `wanted`."""
    services = {name: {"name": name, "route": declaring(name)} for name in (ENABLED if enabled is None else enabled)}
    services.update({name: {"name": name, "custom": {}, "route": spec.get("route") and {"port": "main"}}
                     for name, spec in (custom or {}).items()})
    services["proxy"] = {"name": "proxy", "route_options": {
        "wanted": wanted, "litellm_api": litellm_api, "hostnames": hostnames or {}, "domain": domain,
        "https_port": https_port}}
    assert needs.routes(services) == []
    return services["proxy"]["routes"]


def catalog(route_map=None, **apps):
    route_map = routes() if route_map is None else route_map
    out = {
        "openwebui": app("openwebui", 8080), "n8n": app("n8n", 5678), "flowise": app("flowise", 3000),
        "anythingllm": app("anythingllm", 3001), "dify": app("dify", 80, container="aiplatform-dify-nginx"),
        "litellm": app("litellm", 4000), "ollama": app("ollama", 11434),
        "proxy": {"name": "proxy", "container": "aiplatform-proxy", "host_group": "aiplatform",
                  "ports": [{"name": "https", "container": 443, "published": 443, "bind": "0.0.0.0"}],
                  "connects_to": list(route_map.values()), "routes": route_map},
    }
    out.update(apps)
    return out


def proxy_vars(mode="platform_ca", route_map=None, **over):
    route_map = routes() if route_map is None else route_map
    values = dict(DEFAULTS, proxy_certificates=mode, proxy_route_map=route_map, proxy_listen_https=443,
                  proxy_listen_http=80, proxy_health_port=2080, aiplatform_catalog=catalog(route_map),
                  inventory_hostname="h1", groups=ONE_HOST, hostvars={}, aiplatform_hardening=True,
                  proxy_acme_email="ops@example.org")
    if mode == "private_acme":
        values.update(proxy_acme_ca="https://pebble.lab:14000/dir", proxy_acme_ca_root=PEM)
    values["proxy_service"] = dict(values["aiplatform_catalog"]["proxy"], project="aiplatform-proxy",
                                   hardening={"proxy": dict(DEFAULTS["proxy_hardening"])})
    values.update(over)
    # how the proxy reaches each route, as the plan works it out (host_plan.endpoints, its connects_to)
    reached, problems = host_plan.endpoints(values["aiplatform_catalog"], ["proxy"], values["inventory_hostname"],
                                            values["groups"], values["hostvars"])
    assert problems == []
    values["aiplatform_host_plan"] = {"endpoints": reached}
    return values


# --- routes and public URLs ---

def test_each_enabled_application_gets_its_own_hostname_and_nothing_else_is_routed():
    found = routes()
    assert sorted(found) == ["anythingllm", "dify", "flowise", "n8n", "openwebui"]
    assert found["n8n"]["hostname"] == "n8n.aiplatform.internal"
    assert found["n8n"]["url"] == "https://n8n.aiplatform.internal"
    assert found["openwebui"] == {"service": "openwebui", "port": "http", "checked": False, "api_only": False,
                                  "hostname": "openwebui.aiplatform.internal",
                                  "url": "https://openwebui.aiplatform.internal"}


def test_an_application_that_is_not_enabled_is_not_routed_and_litellm_only_when_asked():
    found = routes(enabled=["postgres", "redis", "litellm", "n8n", "proxy"])
    assert sorted(found) == ["n8n"]
    with_api = routes(litellm_api=True, hostnames={"litellm": "api.example.org"})
    assert with_api["litellm"]["api_only"] is True
    assert with_api["litellm"]["url"] == "https://api.example.org"


def test_another_https_port_is_in_the_url_and_a_custom_service_is_reached_at_its_main_port():
    found = routes(https_port=8443, custom={"mytool": {}}, wanted=["mytool", "openwebui"])
    assert found["openwebui"]["url"] == "https://openwebui.aiplatform.internal:8443"
    assert found["mytool"]["port"] == "main"


def test_what_is_routed_is_what_the_services_declare_unless_proxy_routes_lists_them():
    assert [n for n in ENABLED if declaring(n)] == ["dify", "n8n", "flowise", "anythingllm", "openwebui"]
    # a custom service is routed when its spec says route: true, at its port main
    found = routes(custom={"mytool": {"route": True}, "quiet": {}})
    assert found["mytool"]["port"] == "main" and "quiet" not in found
    # proxy_routes set by the inventory: exactly those (here Dify and Flowise left out)
    assert sorted(routes(wanted=["n8n", "openwebui", "quiet"], custom={"quiet": {}})) == ["n8n", "openwebui", "quiet"]


def test_a_declared_host_names_the_route_and_proxy_hostnames_wins_over_it():
    services = {"chat": {"name": "chat", "route": {"port": "web", "host": "talk"}},
                "wiki": {"name": "wiki", "route": True},
                "proxy": {"name": "proxy", "route_options": {"domain": "example.org", "https_port": 443,
                                                             "hostnames": {"wiki": "docs.example.org"}}}}
    assert needs.routes(services) == []
    found = services["proxy"]["routes"]
    assert found["chat"]["hostname"] == "talk.example.org" and found["chat"]["port"] == "web"
    assert found["wiki"] == {"service": "wiki", "port": "http", "checked": False, "api_only": False,
                             "hostname": "docs.example.org", "url": "https://docs.example.org"}
    assert services["proxy"]["connects_to"] == list(found.values())


@pytest.mark.parametrize("options", [{"https_port": "four"}, {"wanted": [{"n8n": 1}]}, {"wanted": "n8n"}])
def test_bad_route_options_leave_the_report_to_the_proxys_checks(options):
    services = {"n8n": {"name": "n8n", "route": True},
                "proxy": {"name": "proxy", "route_options": dict({"domain": "example.org"}, **options)}}
    assert needs.routes(services) == []
    assert "n8n" not in (services["proxy"].get("routes") or {})
    assert needs.routes(dict(services, proxy={"route_options": {"litellm_api": "perhaps"}})) == [
        "proxy.proxy_litellm_api: 'perhaps' is not true or false"]


def test_public_url_is_empty_without_the_proxy():
    assert proxy.public_url(catalog(), "n8n") == "https://n8n.aiplatform.internal"
    assert proxy.public_url(catalog(), "ollama") == ""
    assert proxy.public_url({"n8n": {}}, "n8n") == ""


# --- links: the proxy reaches each routed application on a network of its own ---

def test_the_proxy_has_one_link_network_per_routed_application_and_no_application_shares_it():
    plan = cat.link_networks(catalog(), "h1", ONE_HOST, "aiplatform")
    assert set(plan["proxy"]["aiplatform-proxy"]) == {
        "aiplatform-anythingllm.proxy", "aiplatform-dify.proxy", "aiplatform-flowise.proxy",
        "aiplatform-n8n.proxy", "aiplatform-openwebui.proxy"}
    # Dify is served by its nginx container: that one joins, under the service's name
    assert plan["dify"]["aiplatform-dify-nginx"] == {"aiplatform-dify.proxy": ["dify"]}
    assert "ollama" not in plan and "litellm" not in plan
    assert cat.link_problems(catalog(), ENABLED) == []


def test_the_proxy_links_are_not_wiring_checks():
    # the proxy is healthy while an application is still starting
    assert cat.wiring(["proxy"], catalog(), "h1", ONE_HOST, {}) == []


# --- the Caddyfile of each certificate mode ---

@pytest.mark.parametrize("mode", proxy.TLS_MODES)
def test_the_caddyfile_routes_each_application_to_its_container(mode):
    text = render("proxy", "caddyfile.j2", **proxy_vars(mode))
    assert '"https://openwebui.aiplatform.internal" {' in text
    assert 'reverse_proxy "aiplatform-openwebui:8080" {' in text
    assert 'reverse_proxy "aiplatform-dify-nginx:80" {' in text
    assert "flush_interval -1" in text
    assert 'max_size "1GB"' in text
    assert 'response_header_timeout "15m"' in text
    assert "ollama" not in text and "litellm" not in text
    assert "admin off" in text


def test_platform_ca_mode_signs_long_lived_certificates_with_the_platform_root():
    text = render("proxy", "caddyfile.j2", **proxy_vars("platform_ca"))
    assert "issuer internal" in text and "sign_with_root" in text and 'lifetime "4320h"' in text
    assert "acme_ca" not in text and "email" not in text


def test_acme_mode_names_the_contact_and_no_private_server():
    text = render("proxy", "caddyfile.j2", **proxy_vars("acme"))
    assert 'email "ops@example.org"' in text
    assert "acme_ca" not in text and "issuer internal" not in text
    # another public CA when asked (it was ignored: Let's Encrypt was used anyway)
    other = render("proxy", "caddyfile.j2", **proxy_vars("acme", proxy_acme_ca="https://acme.example.org/directory"))
    assert 'acme_ca "https://acme.example.org/directory"' in other and "acme_ca_root" not in other


def test_private_acme_mode_uses_the_lab_server_and_trusts_its_ca():
    values = proxy_vars("private_acme")
    text = render("proxy", "caddyfile.j2", **values)
    assert 'acme_ca "https://pebble.lab:14000/dir"' in text
    assert "acme_ca_root /etc/caddy/acme-ca.crt" in text
    assert render("proxy", "acme_ca.crt.j2", **values).strip() == PEM.strip()
    compose = yaml.safe_load(render("proxy", "compose.yml.j2", **values))
    assert "./acme-ca.crt:/etc/caddy/acme-ca.crt:ro" in compose["services"]["proxy"]["volumes"]


def test_litellm_api_is_routed_on_its_own_name_and_only_under_v1():
    route_map = routes(litellm_api=True)
    text = render("proxy", "caddyfile.j2", **proxy_vars(route_map=route_map))
    block = text.split('"https://litellm.aiplatform.internal" {', 1)[1].split("\n}\n", 1)[0]
    assert "@api path /v1/*" in block and "handle @api" in block and 'respond "Not routed' in block


def test_the_compose_file_publishes_only_the_proxy_ports_and_hardens_it():
    values = proxy_vars()
    values["proxy_service"]["ports"] = [
        {"name": "https", "container": 443, "published": 443, "bind": "0.0.0.0"},
        {"name": "http", "container": 80, "published": 80, "bind": "0.0.0.0"}]
    compose = yaml.safe_load(render("proxy", "compose.yml.j2", **values))
    svc = compose["services"]["proxy"]
    assert svc["ports"] == ["0.0.0.0:443:443", "0.0.0.0:80:80"]
    assert svc["cap_drop"] == ["ALL"] and svc["cap_add"] == ["NET_BIND_SERVICE"] and svc["read_only"] is True
    assert "proxy_data:/data" in svc["volumes"]
    assert set(svc["networks"]) == {"aiplatform-anythingllm.proxy", "aiplatform-dify.proxy", "aiplatform-flowise.proxy",
                                    "aiplatform-n8n.proxy", "aiplatform-openwebui.proxy"}
    assert compose["volumes"]["proxy_data"]["name"] == "aiplatform_proxy_data"


@pytest.mark.skipif(not shutil.which("caddy"), reason="no caddy binary here (Debian package caddy)")
@pytest.mark.parametrize("mode", proxy.TLS_MODES)
def test_caddy_itself_reads_the_caddyfile(mode, tmp_path):
    route_map = routes(litellm_api=True)
    (tmp_path / "Caddyfile").write_text(render("proxy", "caddyfile.j2", **proxy_vars(mode, route_map=route_map)))
    done = subprocess.run(["caddy", "adapt", "--config", str(tmp_path / "Caddyfile")], capture_output=True,
                          text=True, timeout=60, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "WARN" not in done.stderr.replace("Caddyfile input is not formatted", ""), done.stderr


def test_a_value_that_could_open_a_block_never_reaches_the_caddyfile():
    assert proxy.caddy_quote('a"b') == '"a\\"b"'
    # Caddy 2.6 would read a backslash as it is, but one before the closing quote escapes it: refused
    for bad in ["x\n}", "{$HOME}", "a{b", "a\\b", "ends\\"]:
        with pytest.raises(inputs.InputError):
            proxy.caddy_quote(bad)


# --- the plan's checks ---

def validate(**over):
    data = {"domain": "aiplatform.internal", "routes": DEFAULTS["proxy_routes"], "services": ENABLED,
            "custom": [], "hostnames": {}, "effective": routes(),
            "tls": {"mode": "platform_ca", "email": "", "ca": "", "ca_root": "", "lifetime": "4320h"},
            "https_port": 443, "http_port": 80, "max_body_size": "1GB", "timeouts": dict(DEFAULTS["proxy_timeouts"]),
            "warn_days": 30}
    data.update(over)
    return config_checks.service_problems("proxy", {"validate": data})


def test_the_defaults_are_valid():
    assert validate() == []


@pytest.mark.parametrize("domain", ["", "Example.org", "bad_name.org", "https://x.org", "x.org:443", "10.0.0.1",
                                    "a..b", "x.org\nfoo"])
def test_a_bad_domain_names_the_variable_and_the_fix(domain):
    (problem,) = validate(domain=domain)
    assert problem.startswith("proxy.aiplatform_domain:") and "set aiplatform_domain" in problem


def test_routes_that_are_never_routed_or_unknown_are_refused_with_the_fix():
    problems = validate(routes=["ollama", "litellm", "nosuch"])
    assert any("ollama is not routed" in p and "remove it from proxy_routes" in p for p in problems)
    assert any("proxy_litellm_api: true" in p for p in problems)
    assert any("'nosuch' is no service" in p for p in problems)


def test_hostnames_are_checked_and_two_services_cannot_share_one():
    problems = validate(hostnames={"n8n": "Bad Host"})
    assert problems and problems[0].startswith("proxy.proxy_hostnames.n8n:")
    clash = routes(hostnames={"n8n": "app.example.org", "flowise": "app.example.org"})
    (problem,) = validate(hostnames={"n8n": "app.example.org", "flowise": "app.example.org"}, effective=clash)
    assert "both get hostname app.example.org" in problem


@pytest.mark.parametrize("tls,expected", [
    ({"mode": "letsencrypt"}, "proxy.proxy_certificates: 'letsencrypt' is not one of"),
    ({"mode": "acme", "email": ""}, "proxy.proxy_acme_email: public ACME needs a contact address"),
    ({"mode": "acme", "email": "not an email"}, "proxy.proxy_acme_email: 'not an email' is not an email"),
    ({"mode": "private_acme", "ca": ""}, "proxy.proxy_acme_ca: the private ACME mode needs"),
    ({"mode": "private_acme", "ca": "http://pebble:14000/dir"}, "is not an https URL"),
    ({"mode": "private_acme", "ca": "https://pebble/dir\"\n}"}, "is not an https URL"),
    ({"mode": "private_acme", "ca": "https://pebble:14000/dir", "ca_root": "not a pem"},
     "proxy.proxy_acme_ca_root: must be the PEM text"),
    ({"mode": "platform_ca", "lifetime": "90d"}, "proxy.proxy_platform_ca_lifetime: '90d'"),
])
def test_certificate_settings_are_checked_per_mode(tls, expected):
    full = {"mode": "platform_ca", "email": "", "ca": "", "ca_root": "", "lifetime": "4320h"}
    full.update(tls)
    problems = validate(tls=full)
    assert any(expected in p for p in problems), problems


def test_a_private_acme_setup_is_valid():
    assert validate(tls={"mode": "private_acme", "email": "ops@example.org", "ca": "https://pebble:14000/dir",
                         "ca_root": PEM, "lifetime": "4320h"}) == []


def test_sizes_durations_and_ports_are_checked():
    problems = validate(max_body_size="lots", timeouts={"idle": "5 minutes", "dial": ""}, https_port=0,
                        http_port=0, warn_days=0)
    assert any(p.startswith("proxy.proxy_max_body_size:") for p in problems)
    assert any(p.startswith("proxy.proxy_timeouts.idle:") for p in problems)
    assert not any("proxy_timeouts.dial" in p for p in problems)  # empty: no limit
    assert any(p.startswith("proxy.proxy_https_port:") for p in problems)
    assert any(p.startswith("proxy.proxy_certificate_warn_days:") for p in problems)


def test_renew_interval_is_a_duration_or_empty():
    assert any(p.startswith("proxy.proxy_renew_interval:") for p in validate(renew_interval="often"))
    assert validate(renew_interval="") == validate(renew_interval="5s") == []


def test_a_routed_application_published_past_the_proxy_on_its_host_is_a_problem():
    exposed = catalog(n8n=app("n8n", 5678, bind="0.0.0.0", published=5678))
    (problem,) = proxy.catalog_problems(exposed, ONE_HOST, {})
    assert problem.startswith("n8n.ports.http.bind:") and "n8n_bind_address: 127.0.0.1" in problem
    # on loopback (the default) it is fine: the host itself may reach it
    assert proxy.catalog_problems(catalog(n8n=app("n8n", 5678, published=5678)), ONE_HOST, {}) == []


def test_an_application_on_another_host_must_publish_its_port_for_the_proxy():
    groups = {"aiplatform": ["h1"], "apps": ["h2"]}
    unreachable = catalog(n8n=app("n8n", 5678, group="apps"))
    (problem,) = proxy.catalog_problems(unreachable, groups, {})
    assert "n8n cannot be reached from the proxy" in problem and "n8n_published_port" in problem
    reachable = catalog(n8n=app("n8n", 5678, group="apps", bind="0.0.0.0", published=5678))
    assert proxy.catalog_problems(reachable, groups, {}) == []
    # published, but on the other host's loopback: the proxy would answer 502
    (problem,) = proxy.catalog_problems(catalog(n8n=app("n8n", 5678, group="apps", published=5678)), groups, {})
    assert problem.startswith("n8n.ports.http.bind:") and "n8n_bind_address" in problem


def test_an_application_on_an_ipv6_host_is_dialled_in_brackets():
    groups = {"aiplatform": ["h1"], "apps": ["h2"]}
    route_map = routes()
    apps = catalog(route_map, n8n=app("n8n", 5678, group="apps", bind="fd00::30", published=5678))
    text = render("proxy", "caddyfile.j2", **proxy_vars(route_map=route_map, aiplatform_catalog=apps, groups=groups,
                                                        hostvars={"h2": {"ansible_host": "fd00::30"}}))
    assert 'reverse_proxy "[fd00::30]:5678"' in text


def test_one_proxy_for_the_platform():
    (problem,) = proxy.catalog_problems(catalog(), {"aiplatform": ["h1", "h2"]}, {})
    assert problem.startswith("proxy.proxy_host_group: 2 hosts (h1, h2)")


def test_a_string_false_does_not_route_litellm():
    from ansible.errors import AnsibleFilterError

    from ansible_collections.aiplatform.stack.plugins.filter import platform as filters

    args = (ENABLED, {}, ["dify", "n8n", "flowise", "anythingllm", "openwebui"])
    assert "litellm" not in filters.proxy_routes(*args, "false", {}, "aiplatform.internal", 443)
    assert "litellm" in filters.proxy_routes(*args, "yes", {}, "aiplatform.internal", 443)
    with pytest.raises(AnsibleFilterError, match="proxy_litellm_api"):
        filters.proxy_routes(*args, "perhaps", {}, "aiplatform.internal", 443)


# --- certificate expiry ---

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "certs")
NOW = dt.datetime(2026, 12, 21, tzinfo=dt.UTC)


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as fh:
        return fh.read()


def test_the_validity_of_a_der_certificate_is_read_without_cryptography():
    not_before, not_after = certificates.validity(fixture("utctime.der"))
    assert not_after == dt.datetime(2027, 1, 10, 12, 0, 0, tzinfo=dt.UTC)
    assert not_before < not_after
    assert certificates.validity(fixture("generalizedtime.der"))[1].year == 2051


def test_garbage_is_a_certificate_error():
    for raw in [b"", b"\x30\x82\xff", b"\x02\x01\x00", b"\x30\x03\x30\x01\x00", b"\x30\x00"]:
        with pytest.raises(certificates.CertificateError):
            certificates.validity(raw)


def test_under_the_threshold_is_a_warn_and_an_unreadable_one_a_fail():
    fetched = {"a.example": fixture("utctime.der"), "b.example": fixture("generalizedtime.der")}

    def fetch(address, port, name):
        if name not in fetched:
            raise ConnectionRefusedError("refused")
        return fetched[name]
    found = {c["hostname"]: c for c in certificates.check("127.0.0.1", 443, ["a.example", "b.example", "c.example"],
                                                          30, now=NOW, fetch=fetch)}
    assert found["a.example"]["days_left"] == 20.5
    assert found["a.example"]["level"] == "WARN" and "under 30" in found["a.example"]["message"]
    assert found["b.example"]["level"] == "OK"
    assert found["c.example"]["level"] == "FAIL" and "refused" in found["c.example"]["message"]
    expired = certificates.assess("x", NOW - dt.timedelta(days=1), NOW, 30)
    assert expired["level"] == "WARN" and "EXPIRED" in expired["message"]


# --- the applications are told their public URL when the proxy routes them ---

def app_env(role, proxied):
    from .test_hardening import rendered  # the role variables those tests already build
    extra = {"aiplatform_catalog": catalog() if proxied else {}, "inventory_hostname": "h1", "groups": ONE_HOST}
    compose = rendered(role, **extra)
    return compose["services"]["api" if role == "dify" else role]["environment"], compose


def test_n8n_gets_https_urls_and_trusts_one_proxy_hop():
    env = app_env("n8n", proxied=True)[0]
    assert env["N8N_PROTOCOL"] == "https" and env["N8N_HOST"] == "n8n.aiplatform.internal"
    assert env["WEBHOOK_URL"] == "https://n8n.aiplatform.internal/"
    assert env["N8N_EDITOR_BASE_URL"] == "https://n8n.aiplatform.internal/" and env["N8N_PROXY_HOPS"] == "1"
    plain = app_env("n8n", proxied=False)[0]
    assert plain["N8N_PROTOCOL"] == "http" and plain["WEBHOOK_URL"].startswith("http://127.0.0.1:")
    assert "N8N_HOST" not in plain


def test_open_webui_flowise_and_dify_get_their_public_url():
    env = app_env("openwebui", proxied=True)[0]
    assert env["WEBUI_URL"] == env["CORS_ALLOW_ORIGIN"] == "https://openwebui.aiplatform.internal"
    env = app_env("flowise", proxied=True)[0]
    assert env["APP_URL"] == "https://flowise.aiplatform.internal" and env["NUMBER_OF_PROXIES"] == "1"
    env, compose = app_env("dify", proxied=True)
    for key in ("CONSOLE_API_URL", "CONSOLE_WEB_URL", "SERVICE_API_URL", "APP_API_URL", "APP_WEB_URL", "FILES_URL"):
        assert env[key] == "https://dify.aiplatform.internal", key
    assert compose["services"]["web"]["environment"]["CONSOLE_API_URL"] == "https://dify.aiplatform.internal"
    assert env["INTERNAL_FILES_URL"] == "http://dify-api:5001"  # inside the platform, not through the proxy


def test_without_the_proxy_the_applications_keep_their_own_addresses():
    assert "WEBUI_URL" not in app_env("openwebui", proxied=False)[0]
    assert "APP_URL" not in app_env("flowise", proxied=False)[0]
    assert app_env("dify", proxied=False)[0]["CONSOLE_API_URL"] == ""
