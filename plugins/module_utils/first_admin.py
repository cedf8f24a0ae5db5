# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Each application's first administrator, made by the deploy through the application's own setup mechanism.

No application may be left for its first visitor to claim. Per application (`kind`), read against the versions the
roles pin:

- n8n 2.41: GET /rest/settings says `userManagement.showSetupOnFirstLoad` while no owner exists; POST
  /rest/owner/setup {email, firstName, lastName, password} makes it (400 "Instance owner already setup" after);
  POST /rest/login {emailOrLdapLoginId, password}. (n8n's N8N_INSTANCE_OWNER_MANAGED_BY_ENV is not used: it
  overwrites whatever owner exists on every start and needs a bcrypt hash.)
- Flowise 3.1 (open source): POST /api/v1/auth/resolve answers {redirectUrl: /organization-setup} while no
  organization exists; POST /api/v1/account/register {user: {name, email, credential}} (201; 400 "You can only have
  one organization" after); POST /api/v1/auth/login {email, password}.
- Open WebUI 0.12 (0.6 too): GET /api/config carries `onboarding: true` while it has no user; POST /api/v1/auths/signup
  {name, email, password} (the first user is admin; its environment has ENABLE_SIGNUP=False and
  ENABLE_INITIAL_ADMIN_SIGNUP=True, so only that first sign-up is allowed: 403 after); POST /api/v1/auths/signin.
- Dify 1.10: GET /console/api/setup {step: not_started|finished}; its INIT_PASSWORD (environment) must be given to
  POST /console/api/init first (a session cookie), then POST /console/api/setup {email, name, password} (201; 403
  already_setup after); POST /console/api/login {email, password}.
- AnythingLLM 1.9: the password is its environment (AUTH_TOKEN, with JWT_SECRET): GET /api/setup-complete says
  `RequiresAuth`; POST /api/request-token {password} answers {valid: true} for it. Nothing is made here.

The outcome never carries a password. HTTP goes to the container's address on the platform network (as the probes).
"""
from __future__ import annotations

import json
import time
from http.cookiejar import CookieJar
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import open_url

from .errors import CLAIMED

# The setup protocols spoken here, each named after the application that answers it. Which service uses which is the
# service's own declaration (first_admin.kind in its description): a new service that answers like Flowise (or a lab
# stand-in modelling that setup) declares kind flowise; nothing here lists services.
KINDS = ("n8n", "flowise", "openwebui", "dify", "anythingllm")


class UnreachableError(RuntimeError):
    """The application did not answer, or answered 5xx: worth another try within the wait."""


class RateLimitedError(RuntimeError):
    """The login was refused for too many recent attempts (n8n allows 5 a minute per email in production)."""


class Http:
    """JSON over HTTP to one base URL, with a cookie jar (Dify's init validation lives in its session)."""

    def __init__(self, base: str, timeout: float = 10.0, opener=None) -> None:
        self.base, self.timeout = base.rstrip("/"), timeout
        self.cookies = CookieJar()
        self.opener = opener or open_url

    def __call__(self, method: str, path: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, object]:
        """(status, parsed JSON or text); raises UnreachableError on no answer or a 5xx."""
        data = json.dumps(body).encode() if body is not None else None
        hdrs = dict({"Content-Type": "application/json", "Accept": "application/json"} if data is not None
                    else {"Accept": "application/json"}, **(headers or {}))
        try:
            resp = self.opener(self.base + path, data=data, headers=hdrs, method=method, timeout=self.timeout,
                               use_proxy=False, follow_redirects="none", cookies=self.cookies)
            status, raw = resp.getcode(), resp.read()
        except HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (URLError, OSError) as exc:
            raise UnreachableError(f"{method} {path}: {getattr(exc, 'reason', exc)}") from None
        if status >= 500:
            raise UnreachableError(f"{method} {path}: HTTP {status}{_excerpt(raw)}")
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")
        try:
            return status, json.loads(text) if text.strip() else {}
        except ValueError:
            return status, text


def _excerpt(raw: object, size: int = 160) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")
    text = " ".join(text.split())
    return f": {text[:size]}" if text else ""


def _served(what: str, status: int) -> None:
    """A 404 from the first question: the application answers its probe but does not serve its routes yet."""
    if status == 404:
        raise UnreachableError(f"{what}: HTTP 404, not served (yet)")


def _get(doc: object, *keys: str) -> object:
    for key in keys:
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc


def _said(status: int, doc: object) -> str:
    message = _get(doc, "message") or _get(doc, "detail") or _get(doc, "error") or (doc if isinstance(doc, str) else "")
    return f"HTTP {status}" + (f": {' '.join(str(message).split())[:160]}" if message else "")


class UnexpectedAnswerError(RuntimeError):
    """An answer that none of the application's documented ones match."""


# -- per application: open (is its first-account setup still offered?), create, login ----------------------------
def _n8n_open(http) -> bool:
    status, doc = http("GET", "/rest/settings")
    _served("GET /rest/settings", status)
    flag = _get(doc, "data", "userManagement", "showSetupOnFirstLoad")
    if status != 200 or not isinstance(flag, bool):
        raise UnexpectedAnswerError(f"GET /rest/settings: {_said(status, doc)} (no userManagement.showSetupOnFirstLoad)")
    return flag


def _n8n_create(http, spec: dict) -> bool:
    first, dummy, last = spec["name"].partition(" ")
    status, doc = http("POST", "/rest/owner/setup", {"email": spec["email"], "firstName": first or "Platform",
                                                     "lastName": last or "Admin", "password": spec["password"]})
    if status == 200:
        return True
    if status == 400 and "already" in str(_get(doc, "message")).lower():
        return False
    raise UnexpectedAnswerError(f"POST /rest/owner/setup: {_said(status, doc)}")


def _n8n_login(http, spec: dict) -> bool:
    status, doc = http("POST", "/rest/login", {"emailOrLdapLoginId": spec["email"], "password": spec["password"]})
    return _login_answer("POST /rest/login", status, doc, ok=(200,), refused=(401, 403, 404))


def _flowise_open(http) -> bool:
    status, doc = http("POST", "/api/v1/auth/resolve", {})
    _served("POST /api/v1/auth/resolve", status)
    where = _get(doc, "redirectUrl")
    if status != 200 or not isinstance(where, str):
        raise UnexpectedAnswerError(f"POST /api/v1/auth/resolve: {_said(status, doc)} (no redirectUrl)")
    return where == "/organization-setup"


def _flowise_create(http, spec: dict) -> bool:
    status, doc = http("POST", "/api/v1/account/register",
                       {"user": {"name": spec["name"], "email": spec["email"], "credential": spec["password"]}})
    if status in (200, 201):
        return True
    if status == 400 and "only have one organization" in str(_get(doc, "message")).lower():
        return False
    raise UnexpectedAnswerError(f"POST /api/v1/account/register: {_said(status, doc)}")


def _flowise_login(http, spec: dict) -> bool:
    status, doc = http("POST", "/api/v1/auth/login", {"email": spec["email"], "password": spec["password"]})
    return _login_answer("POST /api/v1/auth/login", status, doc, ok=(200,), refused=(400, 401, 403, 404))


def _openwebui_open(http) -> bool:
    status, doc = http("GET", "/api/config")
    _served("GET /api/config", status)
    if status != 200 or not isinstance(doc, dict):
        raise UnexpectedAnswerError(f"GET /api/config: {_said(status, doc)}")
    return doc.get("onboarding") is True


def _openwebui_create(http, spec: dict) -> bool:
    status, doc = http("POST", "/api/v1/auths/signup",
                       {"name": spec["name"], "email": spec["email"], "password": spec["password"]})
    if status == 200 and _get(doc, "role") == "admin":
        return True
    if status == 200:  # a user, not the admin: someone signed up first
        return False
    if status == 403:
        return False
    raise UnexpectedAnswerError(f"POST /api/v1/auths/signup: {_said(status, doc)}")


def _openwebui_login(http, spec: dict) -> bool:
    status, doc = http("POST", "/api/v1/auths/signin", {"email": spec["email"], "password": spec["password"]})
    if status == 200 and _get(doc, "role") not in (None, "admin"):
        return False  # logs in, but not as the administrator
    return _login_answer("POST /api/v1/auths/signin", status, doc, ok=(200,), refused=(400, 401, 403))


def _dify_open(http) -> bool:
    status, doc = http("GET", "/console/api/setup")
    _served("GET /console/api/setup", status)
    step = _get(doc, "step")
    if status != 200 or step not in ("not_started", "finished"):
        raise UnexpectedAnswerError(f"GET /console/api/setup: {_said(status, doc)} (no step)")
    return step == "not_started"


def _dify_create(http, spec: dict) -> bool:
    if spec.get("init_password"):
        status, doc = http("POST", "/console/api/init", {"password": spec["init_password"]})
        if status == 403:  # already_setup: a workspace exists
            return False
        if status not in (200, 201):
            raise UnexpectedAnswerError(f"POST /console/api/init (the INIT_PASSWORD in its environment): {_said(status, doc)}")
    status, doc = http("POST", "/console/api/setup",
                       {"email": spec["email"], "name": spec["name"][:30], "password": spec["password"]})
    if status in (200, 201):
        return True
    if status == 403:
        return False
    raise UnexpectedAnswerError(f"POST /console/api/setup: {_said(status, doc)}")


def _dify_login(http, spec: dict) -> bool:
    status, doc = http("POST", "/console/api/login",
                       {"email": spec["email"], "password": spec["password"], "remember_me": False})
    if status == 200 and _get(doc, "result") != "success":
        return False  # e.g. an account without a workspace
    return _login_answer("POST /console/api/login", status, doc, ok=(200,), refused=(400, 401, 403, 404))


def _anythingllm_open(http) -> bool:
    status, doc = http("GET", "/api/setup-complete")
    _served("GET /api/setup-complete", status)
    needs = _get(doc, "results", "RequiresAuth")
    if status != 200 or not isinstance(needs, bool):
        raise UnexpectedAnswerError(f"GET /api/setup-complete: {_said(status, doc)} (no results.RequiresAuth)")
    return not needs


def _anythingllm_create(http, spec: dict) -> bool:
    raise UnexpectedAnswerError("it answers without a password: AUTH_TOKEN is not in its environment (anythingllm.env)")


def _anythingllm_login(http, spec: dict) -> bool:
    status, doc = http("POST", "/api/request-token", {"password": spec["password"]})
    if status == 200:
        return _get(doc, "valid") is True
    return _login_answer("POST /api/request-token", status, doc, ok=(), refused=(401, 403))


def _login_answer(what: str, status: int, doc: object, ok: tuple, refused: tuple) -> bool:
    if status in ok:
        return True
    if status in refused:
        return False
    if status == 429:
        raise RateLimitedError(f"{what}: HTTP 429, too many logins lately")
    raise UnexpectedAnswerError(f"{what}: {_said(status, doc)}")


PROTOCOLS = {
    "n8n": (_n8n_open, _n8n_create, _n8n_login),
    "flowise": (_flowise_open, _flowise_create, _flowise_login),
    "openwebui": (_openwebui_open, _openwebui_create, _openwebui_login),
    "dify": (_dify_open, _dify_create, _dify_login),
    "anythingllm": (_anythingllm_open, _anythingllm_create, _anythingllm_login),
}


def claimed_advice(spec: dict) -> str:
    where = spec.get("secrets_file") or "its secrets file"
    return (f"the application was set up by someone else (or with other credentials): reset its administrator "
            f"({spec.get('reset') or 'see the role README'}), or store that administrator's password as admin_password "
            f"in {where} and set aiplatform_admin_email to its email, then re-run; the platform never overwrites it")


def ensure_once(spec: dict, http, check_mode: bool = False) -> dict:
    """One attempt: {ok, changed, action, category?, cause?, advice?}. Raises UnreachableError to be tried again.

    action: created (made now), verified (existed; the stored credentials log in), unverified (exists; the login was
    refused for too many recent logins, so it is checked by a later run), would_create (check mode), present (check
    mode: exists, login not tried).
    """
    is_open, create, login = PROTOCOLS[spec["kind"]]
    try:
        if is_open(http):
            if check_mode:
                return {"ok": True, "changed": True, "action": "would_create"}
            if create(http, spec):
                return {"ok": True, "changed": True, "action": "created"}
            # someone else was quicker (or a previous attempt got through): it must be ours to count
        elif check_mode:
            return {"ok": True, "changed": False, "action": "present"}
        try:
            if login(http, spec):
                return {"ok": True, "changed": False, "action": "verified"}
        except RateLimitedError as exc:  # it exists and was not given away by this run: not worth failing a deploy
            return {"ok": True, "changed": False, "action": "unverified", "cause": str(exc)}
        return {"ok": False, "changed": False, "category": CLAIMED,
                "cause": f"first administrator already set up, and {spec['email']} with the stored password is refused",
                "advice": claimed_advice(spec)}
    except UnexpectedAnswerError as exc:
        return {"ok": False, "changed": False, "category": "unknown", "cause": f"setup of the first administrator: {exc}",
                "advice": "read the application's log; a changed setup API needs this collection's update"}


def ensure(spec: dict, base: str, check_mode: bool = False, wait: float = 30.0, opener=None,
           clock=time.monotonic, sleep=time.sleep) -> dict:
    """ensure_once, tried again while the application does not answer (or answers 5xx), for at most `wait` s.

    A probe may pass a moment before the setup API is served (n8n, Flowise and Open WebUI mount routes late).
    """
    http = Http(base, opener=opener)
    return retry_unreachable(lambda: ensure_once(spec, http, check_mode), "setup of the first administrator", wait,
                             clock, sleep)


def retry_unreachable(attempt, what: str, wait: float, clock=time.monotonic, sleep=time.sleep) -> dict:
    """attempt() again while it raises UnreachableError, for at most `wait` s; then a `timeout` outcome."""
    end = clock() + wait
    delay = 0.5
    while True:
        try:
            return attempt()
        except UnreachableError as exc:
            if clock() + delay > end:
                return {"ok": False, "changed": False, "category": "timeout",
                        "cause": f"{what}: no answer within {wait:g} s ({exc})",
                        "advice": "read the application's log (docker logs) and re-run"}
            sleep(delay)
            delay = min(delay * 2, 4.0)
