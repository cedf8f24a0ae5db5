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
  STANDIN_REDIS_URL      redis://:pass@host:port/0             checked on every readiness probe
  STANDIN_REDIS_ENV_PREFIX  read <prefix>HOST, <prefix>PORT, <prefix>PASSWORD instead (e.g. REDIS_)
  STANDIN_HTTP_DEPS      comma list of URLs that must answer 2xx
  Fault knobs:
  STANDIN_START_DELAY    seconds before the port opens
  STANDIN_NEVER_READY    "1": readiness always 503
  STANDIN_EXIT_CODE      exit with this code ...
  STANDIN_EXIT_AFTER     ... after this many seconds (default 0)
  STANDIN_UNHEALTHY_AFTER  seconds after start from which readiness answers 503
"""
import json
import os
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


def pg_url() -> str:
    return os.environ.get(os.environ.get("STANDIN_PG_URL_ENV", ""), "") or os.environ.get("STANDIN_PG_URL", "")


def redis_url() -> str:
    prefix = os.environ.get("STANDIN_REDIS_ENV_PREFIX")
    if prefix and os.environ.get(prefix + "HOST"):
        password = os.environ.get(prefix + "PASSWORD", "")
        return f"redis://:{password}@{os.environ[prefix + 'HOST']}:{os.environ.get(prefix + 'PORT', '6379')}/0"
    return os.environ.get("STANDIN_REDIS_URL", "")


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
    for url in env_list("STANDIN_HTTP_DEPS"):
        problems.append(check_http(url))
    problems = [p for p in problems if p]
    return not problems, problems


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path in env_list("STANDIN_LIVE_PATHS"):
            return self.answer(200, {"status": "alive"})
        if path in env_list("STANDIN_READY_PATHS", "/health"):
            ok, problems = readiness()
            db = "connected" if pg_url() and ok else "Not connected"
            if ok:
                body = os.environ.get("STANDIN_READY_BODY", '{"status":"ok"}').replace("{db}", db)
                return self.answer(200, json.loads(body))
            return self.answer(503, {"status": "unavailable", "db": db, "problems": problems})
        return self.answer(404, {"error": "not found"})

    def answer(self, code: int, body: object) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
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
