"""Real services for the Celery tests, the soak's Celery variant and the scale benchmark.

* :class:`EmulatorServer` serves an emulator on a free loopback port (worker
  processes reach it over HTTP) and records every API request it answers:
  arrival time, body, status and how many were in flight, so a test can check
  the throttle from QBO's side.
* :func:`pg_schema` gives a PostgreSQL URL bound to a fresh schema.
* :class:`CeleryWorkers` starts ``celery worker`` processes on the test app
  module and can SIGKILL one mid-task.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import typing as t
import uuid
from pathlib import Path

from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server

from flask_qbo.emulator import Emulator
from flask_qbo.emulator import EmulatorConfig
from flask_qbo.testing import TEST_REALM
from tests.pg import postgres_schema

ROOT = Path(__file__).resolve().parents[2]


class RequestLog:
    """What reached the emulator's v3 API, in arrival order (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: list[dict[str, t.Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0

    def arrivals(self) -> list[float]:
        with self.lock:
            return [e["start"] for e in self.entries]

    def max_in_window(self, window: float) -> int:
        """Most requests that arrived within any ``window`` seconds."""
        times = sorted(self.arrivals())
        best, lo = 0, 0
        for hi, when in enumerate(times):
            while when - times[lo] >= window:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    def customer_writes(self) -> list[dict[str, t.Any]]:
        """Customer objects sent in answered POSTs (single writes and batch items), in arrival order."""
        with self.lock:
            entries = [
                e for e in self.entries if e["method"] == "POST" and e["status"] == 200 and isinstance(e["body"], dict)
            ]
        found: list[dict[str, t.Any]] = []
        for entry in entries:
            if entry["path"].endswith("/customer"):
                found.append(entry["body"])
            elif entry["path"].endswith("/batch"):
                found += [
                    item["Customer"]
                    for item in entry["body"].get("BatchItemRequest", ())
                    if isinstance(item.get("Customer"), dict)
                ]
        return found


class _Recorder:
    """WSGI middleware in front of the emulator app."""

    def __init__(self, app: t.Any, log: RequestLog) -> None:
        self.app = app
        self.log = log

    def __call__(self, environ: dict[str, t.Any], start_response: t.Callable[..., t.Any]) -> t.Any:
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/v3/"):
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        entry: dict[str, t.Any] = {
            "start": time.monotonic(),
            "method": environ["REQUEST_METHOD"],
            "path": path,
            "query": environ.get("QUERY_STRING", ""),
            "body": body,
            "status": None,
        }
        with self.log.lock:
            self.log.in_flight += 1
            self.log.max_in_flight = max(self.log.max_in_flight, self.log.in_flight)

        def recording_start(status: str, headers: t.Any, *args: t.Any) -> t.Any:
            entry["status"] = int(status.split()[0])
            return start_response(status, headers, *args)

        try:
            return list(self.app(environ, recording_start))
        finally:
            with self.log.lock:
                self.log.in_flight -= 1
                self.log.entries.append(entry)


class _QuietHandler(WSGIRequestHandler):
    """No access log: a run makes thousands of requests."""

    def log_request(self, *args: t.Any, **kwargs: t.Any) -> None:
        return None


class EmulatorServer:
    """An emulator with one empty company (``TEST_REALM``) on ``http://127.0.0.1:<free port>``."""

    def __init__(self, **config: t.Any) -> None:
        self.log = RequestLog()
        self._server = make_server("127.0.0.1", 0, self._dispatch, threaded=True, request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self.emu = Emulator(EmulatorConfig(base_url=self.url, **config))
        self.emu.add_company(TEST_REALM, "Test Company")
        self._app = _Recorder(self.emu.app, self.log)
        self._thread = threading.Thread(target=self._server.serve_forever, name="emulator-server", daemon=True)

    def _dispatch(self, environ: dict[str, t.Any], start_response: t.Callable[..., t.Any]) -> t.Any:
        return self._app(environ, start_response)

    def __enter__(self) -> EmulatorServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: t.Any) -> None:
        self.emu.webhooks.stop()
        self._server.shutdown()
        self._server.server_close()


@contextlib.contextmanager
def pg_schema(base_url: str, prefix: str = "qbo_celery") -> t.Iterator[str]:
    """A URL whose ``search_path`` is a fresh schema, dropped on exit (raises when PostgreSQL is down)."""
    with postgres_schema(base_url, prefix) as (url, _schema):
        yield url


class CeleryWorkers:
    """``celery worker --pool=solo`` processes for ``tests.integration.celery_app``.

    The solo pool runs the task in the worker's own process, so SIGKILL on the
    worker is a crash in the middle of the task, and the pid recorded in an
    outbox row's ``claimed_by`` is the worker's.
    """

    def __init__(self, env: t.Mapping[str, str], queue: str, log_dir: Path) -> None:
        self.env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        self.queue = queue
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> subprocess.Popen[bytes]:
        log_path = self.log_dir / f"{name}.log"
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.integration.celery_app:celery",
            "worker",
            "--pool=solo",
            "-Q",
            self.queue,
            "-n",
            f"{name}@%h",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "INFO",
        ]
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs[name] = proc
        return proc

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until every started worker logged "ready" (fails with the log of one that died)."""
        deadline = time.monotonic() + timeout
        for name, proc in self.procs.items():
            log_path = self.log_dir / f"{name}.log"
            while " ready." not in log_path.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Celery worker {name} did not start:\n{self.log(name)}")
                time.sleep(0.1)

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")[-4000:]

    def kill(self, name: str) -> None:
        """SIGKILL: no cleanup, no ack, the claim stays as the crash left it."""
        proc = self.procs[name]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


class Stack(t.NamedTuple):
    """What :func:`celery_stack` runs: the host app, the emulator server and the workers."""

    app: t.Any
    server: EmulatorServer
    workers: CeleryWorkers


@contextlib.contextmanager
def celery_stack(
    *,
    postgres_url: str,
    redis_url: str,
    log_dir: Path,
    prefix: str,
    time_scale: float = 1.0,
    qbo_per_window: int = 500,
    qbo_concurrent: int = 10,
    client_per_window: int = 500,
    client_concurrent: int = 10,
    latency: float = 0.0,
    stats_key: str = "",
    server: t.Any = None,
) -> t.Iterator[Stack]:
    """Emulator server + fresh schema + the host app (runner "celery") + two solo-pool workers.

    ``qbo_*`` are the emulator's limits, ``client_*`` the extension's shared
    throttle; every QBO call takes ``latency`` seconds so workers overlap.
    ``server`` is an emulator server of the caller's (its ``url`` and
    ``emu``, limits already set), used instead of a fresh :class:`EmulatorServer`.
    ``stats_key`` names a Redis hash where the workers count their tasks
    (:func:`tests.integration.celery_app.record_task_stats`).  Everything,
    Redis keys included, is cleaned up on exit.
    """
    from cryptography.fernet import Fernet

    from flask_qbo.testing import connect_tenant
    from tests.hostapp import db
    from tests.integration.celery_app import build_app

    run = uuid.uuid4().hex[:10]
    queue, throttle_prefix = f"{prefix}-{run}", f"{prefix}:{run}:throttle"
    with contextlib.ExitStack() as stack:
        if server is None:
            server = stack.enter_context(
                EmulatorServer(time_scale=time_scale, rate_per_minute=qbo_per_window, max_concurrent=qbo_concurrent)
            )
        db_url = stack.enter_context(pg_schema(postgres_url))
        env = {
            "QBO_CELERY_TEST_DB": db_url,
            "QBO_CELERY_TEST_BROKER": redis_url,
            "QBO_CELERY_TEST_QUEUE": queue,
            "QBO_CELERY_TEST_EMULATOR": server.url,
            "QBO_CELERY_TEST_KEY": Fernet.generate_key().decode(),
            "QBO_CELERY_TEST_REDIS": redis_url,
            "QBO_CELERY_TEST_PREFIX": throttle_prefix,
            "QBO_CELERY_TEST_TIME_SCALE": str(time_scale),
            "QBO_CELERY_TEST_PER_WINDOW": str(client_per_window),
            "QBO_CELERY_TEST_CONCURRENT": str(client_concurrent),
            "QBO_CELERY_TEST_STATS": stats_key,
        }
        app = build_app(env)
        connect_tenant(app, server.emu, "acme", TEST_REALM)
        if latency:
            server.emu.faults.add_latency(latency, path_contains="/v3/")
        workers = CeleryWorkers(env, queue, log_dir)
        try:
            workers.start("w1")
            workers.start("w2")
            workers.wait_ready()
            yield Stack(app, server, workers)
        finally:
            workers.stop()
            with app.app_context():
                db.session.remove()
                for engine in db.engines.values():
                    engine.dispose()
            _flush_redis(redis_url, throttle_prefix, queue)


def _flush_redis(redis_url: str, prefix: str, queue: str) -> None:
    """Delete the run's throttle keys and queue from Redis."""
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*")) + list(client.scan_iter(match=f"*{queue}*"))
    if keys:
        client.delete(*keys)
    client.close()
