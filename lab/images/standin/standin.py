"""Stand-in for a service that cannot be obtained here.

Serves the real probe endpoints of the service it stands in for, and is ready only while every
dependency it is wired to really answers (PostgreSQL login, Redis AUTH + PING, HTTP GET).

Environment (all optional):
  STANDIN_SERVICE        name used in log lines (default "standin")
  STANDIN_PORT           port to listen on (default 8080)
  STANDIN_READY_PATHS    comma list of readiness paths (default "/health")
  STANDIN_LIVE_PATHS     comma list of liveness paths, 200 once started (default "")
  STANDIN_READY_BODY     JSON body for a ready answer (default {"status":"ok"}); "{db}" is replaced by the db state
  STANDIN_PG_URL         postgresql://user:pass@host:port/db   checked on every readiness probe
  STANDIN_PG_URL_ENV     name of the variable holding that URL, as the real service reads it (e.g. DATABASE_URL)
  STANDIN_REDIS_URL      redis://[user]:pass@host:port/0       checked on every readiness probe (AUTH user pass)
  STANDIN_REDIS_ENV_PREFIX  read <prefix>HOST, <prefix>PORT, <prefix>USERNAME, <prefix>PASSWORD instead (e.g. REDIS_)
  STANDIN_PG_VARS        read the connection from discrete variables, e.g.
                         "host=DB_HOST,port=DB_PORT,user=DB_USERNAME,password=DB_PASSWORD,dbname=DB_DATABASE"
  STANDIN_REDIS_URL_ENV  name of the variable holding a redis:// URL (e.g. REDIS_URL, CELERY_BROKER_URL)
  STANDIN_OPENAI_VARS    "base=OPENAI_API_BASE_URL,key=OPENAI_API_KEY": GET <base><STANDIN_OPENAI_SUFFIX> with the key
                         as a bearer token must answer 2xx (an OpenAI-compatible endpoint such as LiteLLM's)
  STANDIN_OPENAI_SUFFIX  path appended to the base (default /models)
  STANDIN_HTTP_DEPS      comma list of URLs that must answer 2xx
  STANDIN_READY_TEXT     plain-text body for a ready answer instead of JSON (e.g. "pong")
  STANDIN_OLLAMA         "1": also serve Ollama's API: GET / and /api/version, /api/tags, POST /api/pull (streamed
                         progress; pulled models are kept in STANDIN_DATA_DIR), /api/generate and /api/chat
  STANDIN_PULL_SECONDS   how long a pull streams progress (default 3)
  STANDIN_SETUP          the first-administrator setup to model, with the real service's routes, answers and status
                         codes: n8n, flowise, openwebui, dify or anythingllm (see SETUP_ROUTES)
  STANDIN_SETUP_FILE     where the administrator made is kept (on the service's volume, so a redeploy keeps it)
  STANDIN_LITELLM_KEYS   "1": LiteLLM's database mode, for its key API (its Prisma engine cannot be had here):
                         POST /key/generate, /key/update, /key/delete and GET /key/info with the master key
                         (LITELLM_MASTER_KEY), and GET /v1/models (and /models) for the master key or a registered
                         key only (401 otherwise), each key seeing the models it may use. Keys are kept in memory: a
                         restart forgets them, as a LiteLLM whose database was reset.
  STANDIN_LITELLM_MODELS comma list of the model names /v1/models lists (default "llama3.2")
  Fault knobs:
  STANDIN_START_DELAY    seconds before the port opens
  STANDIN_NEVER_READY    "1": readiness always 503
  STANDIN_EXIT_CODE      exit with this code ...
  STANDIN_EXIT_AFTER     ... after this many seconds (default 0)
  STANDIN_UNHEALTHY_AFTER  seconds after start from which readiness answers 503
"""
import hashlib
import json
import os
import re
import secrets
import sys
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from urllib.parse import unquote, urlparse

NAME = os.environ.get("STANDIN_SERVICE", "standin")
START = time.monotonic()


def log(msg: str) -> None:
    print(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] [INFO] [{NAME}] {msg}", flush=True)


def env_list(name: str, default: str = "") -> list[str]:
    return [p.strip() for p in os.environ.get(name, default).split(",") if p.strip()]


def check_postgres(url: str) -> str | None:
    import psycopg2

    try:
        conn = psycopg2.connect(url, connect_timeout=2)
        conn.cursor().execute("SELECT 1")
        conn.close()
        return None
    except Exception as exc:  # the reason is the answer
        return f"postgres: {str(exc).strip().splitlines()[0]}"


def check_redis(url: str) -> str | None:
    import redis

    try:
        u = urlparse(url)
        client = redis.Redis(host=u.hostname, port=u.port or 6379, password=unquote(u.password) if u.password else None,
                             username=unquote(u.username) if u.username else None,
                             socket_timeout=2, socket_connect_timeout=2)
        return None if client.ping() else "redis: no PONG"
    except Exception as exc:
        return f"redis: {exc}"


def check_http(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return None if 200 <= resp.status < 300 else f"{url}: HTTP {resp.status}"
    except Exception as exc:
        return f"{url}: {exc}"


def env_map(name: str) -> dict[str, str]:
    """"key=VAR,key2=VAR2" -> {key: value of VAR} for the variables that are set."""
    out = {}
    for part in env_list(name):
        key, _, var = part.partition("=")
        if os.environ.get(var):
            out[key] = os.environ[var]
    return out


def pg_url() -> str:
    parts = env_map("STANDIN_PG_VARS")
    if parts.get("host"):
        from urllib.parse import quote

        return (f"postgresql://{quote(parts.get('user', ''))}:{quote(parts.get('password', ''))}@{parts['host']}:"
                f"{parts.get('port', '5432')}/{parts.get('dbname', '')}")
    return os.environ.get(os.environ.get("STANDIN_PG_URL_ENV", ""), "") or os.environ.get("STANDIN_PG_URL", "")


def redis_url() -> str:
    prefix = os.environ.get("STANDIN_REDIS_ENV_PREFIX")
    if prefix and os.environ.get(prefix + "HOST"):
        from urllib.parse import quote

        user, password = quote(os.environ.get(prefix + "USERNAME", ""), safe=""), quote(os.environ.get(prefix + "PASSWORD", ""), safe="")
        return f"redis://{user}:{password}@{os.environ[prefix + 'HOST']}:{os.environ.get(prefix + 'PORT', '6379')}/0"
    return os.environ.get(os.environ.get("STANDIN_REDIS_URL_ENV", ""), "") or os.environ.get("STANDIN_REDIS_URL", "")


def check_openai() -> str | None:
    parts = env_map("STANDIN_OPENAI_VARS")
    if not parts.get("base"):
        return None
    url = parts["base"].rstrip("/") + os.environ.get("STANDIN_OPENAI_SUFFIX", "/models")
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {parts.get('key', '')}"})
    try:
        with urllib.request.urlopen(req, timeout=3) as resp:
            return None if 200 <= resp.status < 300 else f"{url}: HTTP {resp.status}"
    except Exception as exc:
        return f"{url}: {exc}"


def readiness() -> tuple[bool, list[str]]:
    if os.environ.get("STANDIN_NEVER_READY") == "1":
        return False, ["never ready (fault knob)"]
    after = os.environ.get("STANDIN_UNHEALTHY_AFTER")
    if after and time.monotonic() - START > float(after):
        return False, ["unhealthy (fault knob)"]
    problems = []
    if pg_url():
        problems.append(check_postgres(pg_url()))
    if redis_url():
        problems.append(check_redis(redis_url()))
    problems.append(check_openai())
    for url in env_list("STANDIN_HTTP_DEPS"):
        problems.append(check_http(url))
    problems = [p for p in problems if p]
    return not problems, problems


DATA_DIR = os.environ.get("STANDIN_DATA_DIR", "/root/.ollama")
PULLED_STEPS: dict[str, int] = {}


def pulled_models() -> list[str]:
    try:
        with open(os.path.join(DATA_DIR, "standin-models.json")) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return []


def keep_model(name: str) -> None:
    os.makedirs(DATA_DIR, exist_ok=True)
    models = sorted(set(pulled_models()) | {name})
    with open(os.path.join(DATA_DIR, "standin-models.json"), "w") as fh:
        json.dump(models, fh)


# -- first-administrator setup, as the real services answer it (the versions the roles pin) -----------------------
def admin_file() -> str:
    return os.environ.get("STANDIN_SETUP_FILE") or os.path.join(DATA_DIR, "standin-admin.json")


ADMIN_IN_MEMORY: dict[str, dict] = {}  # where the file cannot be written (a volume owned by the real image's user)


def stored_admin() -> dict | None:
    try:
        with open(admin_file()) as fh:
            return json.load(fh) or None
    except (OSError, ValueError):
        return ADMIN_IN_MEMORY.get(admin_file())


def store_admin(doc: dict) -> None:
    try:
        os.makedirs(os.path.dirname(admin_file()) or ".", exist_ok=True)
        with open(admin_file(), "w") as fh:
            json.dump(doc, fh)
    except OSError as exc:
        log(f"cannot keep the administrator in {admin_file()} ({exc}): kept in memory, until the container goes")
        ADMIN_IN_MEMORY[admin_file()] = doc
    log(f"first administrator {doc['email']} set up")


INIT_SESSIONS: set[str] = set()  # Dify: sessions that gave the INIT_PASSWORD


def n8n_setup(method: str, path: str, body: dict, cookies: dict) -> tuple | None:
    owner = stored_admin()
    if method == "GET" and path == "/rest/settings":
        return 200, {"data": {"settingsMode": "public", "userManagement": {
            "authenticationMethod": "email", "showSetupOnFirstLoad": owner is None, "passwordMinLength": 8}}}
    if method == "POST" and path == "/rest/owner/setup":
        if owner:
            return 400, {"code": 400, "message": "Instance owner already setup"}
        pw = str(body.get("password") or "")
        if not (8 <= len(pw) <= 64 and re.search(r"\d", pw) and re.search(r"[A-Z]", pw)):
            return 400, {"code": 400, "message": "Password must be 8 to 64 characters long."}
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}", str(body.get("email") or "")):
            return 400, {"code": 400, "message": "Invalid email address"}
        store_admin({"email": body["email"].lower(), "password": pw, "name": f"{body.get('firstName')} {body.get('lastName')}"})
        return 200, {"data": {"email": body["email"].lower(), "role": "global:owner"}}
    if method == "POST" and path == "/rest/login":
        if owner and owner["email"] == str(body.get("emailOrLdapLoginId")).lower() and owner["password"] == body.get("password"):
            return 200, {"data": {"email": owner["email"], "role": "global:owner"}}
        return 401, {"code": 401, "message": "Wrong username or password. Do you have caps lock on?"}
    return None


def flowise_setup(method: str, path: str, body: dict, cookies: dict) -> tuple | None:
    account = stored_admin()
    if method == "POST" and path == "/api/v1/auth/resolve":
        return 200, {"redirectUrl": "/signin" if account else "/organization-setup"}
    if method == "POST" and path == "/api/v1/account/register":
        user = body.get("user") or {}
        if account:
            return 400, {"statusCode": 400, "success": False, "message": "You can only have one organization"}
        if not re.fullmatch(r"[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}", str(user.get("email") or "")):
            return 400, {"statusCode": 400, "success": False, "message": "Invalid User Email"}
        pw = str(user.get("credential") or "")
        if len(pw) > 128 or not re.fullmatch(r"(?=.*[a-z])(?=.*[A-Z])(?=.*\d)(?=.*[^a-zA-Z0-9]).{8,}", pw):
            return 400, {"statusCode": 400, "success": False, "message": "Invalid Password"}
        store_admin({"email": user["email"], "password": pw, "name": user.get("name") or user["email"]})
        return 201, {"user": {"email": user["email"], "status": "active"}, "organization": {"name": "Default Organization"}}
    if method == "POST" and path == "/api/v1/auth/login":
        if not account or account["email"].lower() != str(body.get("email")).lower():
            return 404, {"statusCode": 404, "success": False, "message": "User Not Found"}
        if account["password"] != body.get("password"):
            return 401, {"statusCode": 401, "success": False, "message": "Incorrect Email or Password"}
        return 200, {"id": "standin", "email": account["email"], "name": account["name"]}
    return None


def openwebui_setup(method: str, path: str, body: dict, cookies: dict) -> tuple | None:
    user = stored_admin()
    if method == "GET" and path == "/api/config":
        return 200, dict({"onboarding": True} if user is None else {}, status=True, name="Open WebUI")
    if method == "POST" and path == "/api/v1/auths/signup":
        allowed = os.environ.get("ENABLE_SIGNUP", "True").lower() == "true" or (
            user is None and os.environ.get("ENABLE_INITIAL_ADMIN_SIGNUP", "False").lower() == "true")
        if user is not None or not allowed:  # one user only here: later sign-ups are what the platform forbids
            return 403, {"detail": "You do not have permission to access this resource. Please reach out to your "
                                   "administrator for assistance."}
        if len(str(body.get("password") or "").encode()) > 72:
            return 400, {"detail": "Uh-oh! The password you entered is too long. Please make sure your password is "
                                   "less than 72 bytes long."}
        store_admin({"email": str(body.get("email")).lower(), "password": body.get("password"), "name": body.get("name")})
        return 200, {"token": secrets.token_hex(16), "token_type": "Bearer", "email": str(body.get("email")).lower(),
                     "name": body.get("name"), "role": "admin"}
    if method == "POST" and path == "/api/v1/auths/signin":
        if user and user["email"] == str(body.get("email")).lower() and user["password"] == body.get("password"):
            return 200, {"token": secrets.token_hex(16), "token_type": "Bearer", "email": user["email"], "role": "admin"}
        return 400, {"detail": "The email or password provided is incorrect. Please check for typos and try logging in again."}
    return None


def dify_setup(method: str, path: str, body: dict, cookies: dict) -> tuple | None:
    owner = stored_admin()
    init = os.environ.get("INIT_PASSWORD", "")
    validated = cookies.get("session") in INIT_SESSIONS
    already = (403, {"code": "already_setup", "message": "Dify has been successfully installed. Please refresh the "
                                                         "page or return to the dashboard homepage.", "status": 403})
    if method == "GET" and path == "/console/api/setup":
        return (200, {"step": "finished", "setup_at": owner["setup_at"]}) if owner else (200, {"step": "not_started"})
    if method == "GET" and path == "/console/api/init":
        return 200, {"status": "finished" if owner or not init or validated else "not_started"}
    if method == "POST" and path == "/console/api/init":
        if owner:
            return already
        if str(body.get("password") or "") != init:
            return 401, {"code": "init_validate_failed", "message": "Init validation failed. Please check the "
                                                                     "password and try again.", "status": 401}
        session = secrets.token_hex(16)
        INIT_SESSIONS.add(session)
        return 201, {"result": "success"}, {"Set-Cookie": f"session={session}; HttpOnly; Path=/"}
    if method == "POST" and path == "/console/api/setup":
        if owner:
            return already
        if init and not validated:
            return 401, {"code": "not_init_validated", "message": "Init validation has not been completed yet. "
                                                                   "Please proceed with the init validation process first.", "status": 401}
        if not re.fullmatch(r"(?=.*[a-zA-Z])(?=.*\d).{8,}", str(body.get("password") or "")) or \
                len(str(body.get("name") or "")) > 30 or not body.get("name"):
            return 400, {"code": "invalid_param", "message": "Invalid password or name", "status": 400}
        store_admin({"email": str(body.get("email")), "password": body["password"], "name": body["name"],
                     "setup_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
        return 201, {"result": "success"}
    if method == "POST" and path == "/console/api/login":
        if not owner:
            return 401, {"code": "not_setup", "message": "Dify has not been initialized and installed yet.", "status": 401}
        if owner["email"] == body.get("email") and owner["password"] == body.get("password"):
            return 200, {"result": "success"}
        return 401, {"code": "authentication_failed", "message": "Invalid email or password.", "status": 401}
    return None


def anythingllm_setup(method: str, path: str, body: dict, cookies: dict, bearer: str = "") -> tuple | None:
    token = os.environ.get("AUTH_TOKEN", "")
    if method == "GET" and path == "/api/setup-complete":
        return 200, {"results": {"RequiresAuth": bool(token), "AuthToken": bool(token), "MultiUserMode": False}}
    if method == "POST" and path == "/api/request-token":
        if token and body.get("password") == token:
            return 200, {"valid": True, "token": "standin." + secrets.token_hex(8), "message": None}
        return 401, {"valid": False, "token": None, "message": "[003] Invalid password provided"}
    if method == "GET" and path == "/api/system/check-token":
        return (200, "OK") if not token or bearer.startswith("standin.") else (401, {"error": "No auth token found."})
    return None


# LiteLLM's key store (STANDIN_LITELLM_KEYS): sha256 of the key -> its row; deleted rows stay in an archive, served by
# /key/info with status "deleted" (as LiteLLM 1.108 does).
LITELLM_KEYS: dict = {}
LITELLM_DELETED: dict = {}


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest() if key.startswith("sk-") else key


def _litellm_error(code: int, message: str, param: str = "None") -> tuple:
    kind = {400: "bad_request_error", 401: "auth_error", 404: "not_found_error"}.get(code, "internal_server_error")
    return code, {"error": {"message": message, "type": kind, "param": param, "code": str(code)}}


def litellm_keys(method: str, path: str, query: dict, body: dict, bearer: str) -> tuple | None:
    """LiteLLM's key routes and /v1/models, with its answers and status codes; None for any other path."""
    master = os.environ.get("LITELLM_MASTER_KEY", "")
    models = env_list("STANDIN_LITELLM_MODELS", "llama3.2")
    if method == "GET" and path in ("/v1/models", "/models"):
        row = LITELLM_KEYS.get(_key_hash(bearer)) if bearer else None
        if not bearer or (bearer != master and (row is None or row.get("blocked"))):
            return _litellm_error(401, "Authentication Error, Invalid proxy server token passed. Received API Key = "
                                  "sk-...; Unable to find token in cache or `LiteLLM_VerificationTokenTable`")
        allowed = [m for m in models if bearer == master or not row["models"] or m in row["models"]]
        return 200, {"data": [{"id": m, "object": "model", "created": 1677610602, "owned_by": "openai"} for m in allowed],
                     "object": "list"}
    if not path.startswith("/key/"):
        return None
    if bearer != master:
        return _litellm_error(401, "Authentication Error, only the master key is served by this stand-in")
    if method == "GET" and path == "/key/info":
        token = _key_hash(query.get("key") or bearer)
        row = LITELLM_KEYS.get(token) or LITELLM_DELETED.get(token)
        if row is None:
            return _litellm_error(404, "Key not found in database", "key")
        status = "deleted" if token not in LITELLM_KEYS else "revoked" if row.get("blocked") else "active"
        return 200, {"key": query.get("key"), "info": dict(row, status=status)}
    if method != "POST":
        return None
    if path == "/key/generate":
        key = body.get("key") or "sk-" + secrets.token_urlsafe(16)
        if not key.startswith("sk-"):
            return _litellm_error(400, "Invalid key format. LiteLLM Virtual Key must start with 'sk-'.")
        alias = body.get("key_alias")
        if alias and any(r["key_alias"] == alias for r in LITELLM_KEYS.values()):
            return _litellm_error(400, f"Key with alias '{alias}' already exists. Unique key aliases across all keys "
                                  "are required.", "key_alias")
        row = {"key_alias": alias, "key_name": f"sk-...{key[-4:]}", "models": list(body.get("models") or []),
               "metadata": body.get("metadata") or {}, "spend": 0.0, "blocked": None, "expires": None}
        LITELLM_KEYS[_key_hash(key)] = row
        LITELLM_DELETED.pop(_key_hash(key), None)
        log(f"key generated for {alias}")
        return 200, dict(row, key=key, token=_key_hash(key))
    if path == "/key/update":
        row = LITELLM_KEYS.get(_key_hash(body.get("key") or ""))
        if row is None:
            return _litellm_error(404, "Key not found", "key")
        row.update({k: body[k] for k in ("models", "metadata", "key_alias") if k in body})
        return 200, dict(row, key=body["key"])
    if path == "/key/delete":
        tokens = [_key_hash(k) for k in body.get("keys") or []]
        tokens += [t for t, r in LITELLM_KEYS.items() if r["key_alias"] in (body.get("key_aliases") or [])]
        tokens = [t for t in tokens if t in LITELLM_KEYS]
        if not tokens:
            return _litellm_error(404, "Failed to delete all keys. Keys not found", "keys")
        for t in tokens:
            LITELLM_DELETED[t] = LITELLM_KEYS.pop(t)
        return 200, {"deleted_keys": body.get("keys") or body.get("key_aliases")}
    return None


SETUP_ROUTES = {"n8n": n8n_setup, "flowise": flowise_setup, "openwebui": openwebui_setup, "dify": dify_setup,
                "anythingllm": anythingllm_setup}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup_answer(self, method: str, path: str, body: dict) -> bool:
        """Answer a first-administrator setup route of STANDIN_SETUP; False when the path is not one."""
        route = SETUP_ROUTES.get(os.environ.get("STANDIN_SETUP", ""))
        if not route:
            return False
        cookies = dict(c.strip().split("=", 1) for c in (self.headers.get("Cookie") or "").split(";") if "=" in c)
        args = (method, path, body, cookies)
        if route is anythingllm_setup:
            args += ((self.headers.get("Authorization") or "").removeprefix("Bearer ").strip(),)
        found = route(*args)
        if found is None:
            return False
        self.answer(*found)
        return True

    def litellm_answer(self, method: str, body: dict) -> bool:
        """Answer a LiteLLM key or models route (STANDIN_LITELLM_KEYS); False when the path is not one."""
        if os.environ.get("STANDIN_LITELLM_KEYS") != "1":
            return False
        url = urlparse(self.path)
        query = {k: unquote(v) for k, _, v in (p.partition("=") for p in url.query.split("&") if p)}
        bearer = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        found = litellm_keys(method, url.path, query, body, bearer)
        if found is None:
            return False
        self.answer(*found)
        return True

    def do_POST(self) -> None:
        path = self.path.split("?")[0]
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self.answer(400, {"error": "invalid JSON"})
        if self.setup_answer("POST", path, body if isinstance(body, dict) else {}):
            return None
        if self.litellm_answer("POST", body if isinstance(body, dict) else {}):
            return None
        if os.environ.get("STANDIN_OLLAMA") != "1":
            return self.answer(404, {"error": "not found"})
        model = body.get("model") or body.get("name") or ""
        if path == "/api/pull":
            return self.pull(model)
        if path in ("/api/generate", "/api/chat"):
            if model.split(":")[0] not in [m.split(":")[0] for m in pulled_models()]:
                return self.answer(404, {"error": f"model '{model}' not found, try pulling it first"})
            reply = "stand-in answer from " + NAME
            doc = {"model": model, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ"), "done": True,
                   "done_reason": "stop", "prompt_eval_count": 3, "eval_count": 4}
            doc.update({"message": {"role": "assistant", "content": reply}} if path == "/api/chat" else {"response": reply})
            return self.answer(200, doc)
        return self.answer(404, {"error": "not found"})

    def pull(self, model: str) -> None:
        if not model or "missing" in model:
            return self.answer(500, {"error": "pull model manifest: file does not exist"})
        seconds = float(os.environ.get("STANDIN_PULL_SECONDS", "3"))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        total, steps = 1000000, max(1, int(seconds * 4))

        def chunk(doc: dict) -> None:
            data = (json.dumps(doc) + "\n").encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        try:
            chunk({"status": "pulling manifest"})
            # like Ollama, a pull that was cut off resumes where it stopped (the layers it has are kept)
            while PULLED_STEPS.get(model, 0) < steps:
                time.sleep(seconds / steps)
                PULLED_STEPS[model] = PULLED_STEPS.get(model, 0) + 1
                chunk({"status": "pulling standin", "digest": "sha256:standin", "total": total,
                       "completed": total * PULLED_STEPS[model] // steps})
            keep_model(model)
            log(f"pulled {model}")
            chunk({"status": "success"})
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            log(f"pull of {model} cut off by the client at step {PULLED_STEPS.get(model, 0)} of {steps}")

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if self.setup_answer("GET", path, {}):
            return None
        if self.litellm_answer("GET", {}):
            return None
        if os.environ.get("STANDIN_OLLAMA") == "1":
            if path == "/api/tags":
                return self.answer(200, {"models": [{"name": m, "model": m, "size": 1000000} for m in pulled_models()]})
            if path == "/" and "/" not in env_list("STANDIN_READY_PATHS", "/health"):
                return self.answer(200, "Ollama is running")
        if path in env_list("STANDIN_LIVE_PATHS"):
            return self.answer(200, {"status": "alive"})
        if path in env_list("STANDIN_READY_PATHS", "/health"):
            ok, problems = readiness()
            db = "connected" if pg_url() and ok else "Not connected"
            if ok and os.environ.get("STANDIN_READY_TEXT"):
                return self.answer(200, os.environ["STANDIN_READY_TEXT"])
            if ok:
                body = os.environ.get("STANDIN_READY_BODY", '{"status":"ok"}').replace("{db}", db)
                return self.answer(200, json.loads(body))
            # problems first: probes show the start of a body
            return self.answer(503, {"problems": problems, "status": "unavailable", "db": db})
        return self.answer(404, {"error": "not found"})

    def answer(self, code: int, body: object, headers: dict | None = None) -> None:
        text = isinstance(body, str)
        data = body.encode() if text else json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8" if text else "application/json")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args: object) -> None:
        pass


def main() -> None:
    delay = float(os.environ.get("STANDIN_START_DELAY", "0"))
    if os.environ.get("STANDIN_EXIT_CODE"):
        code = int(os.environ["STANDIN_EXIT_CODE"])
        after = float(os.environ.get("STANDIN_EXIT_AFTER", "0"))

        def exit_later() -> None:
            time.sleep(after)
            log(f"exiting with code {code} (fault knob)")
            os._exit(code)

        Thread(target=exit_later, daemon=True).start()
    log(f"starting (delay {delay:g} s)")
    time.sleep(delay)
    port = int(os.environ.get("STANDIN_PORT", "8080"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    log(f"listening on {port}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    main()
