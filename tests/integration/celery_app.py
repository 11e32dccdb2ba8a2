"""The host app as a Celery worker sees it: ``celery -A tests.integration.celery_app:celery worker``.

The test process and every worker build the app with :func:`build_app` from
the same environment variables, so they share the PostgreSQL schema, the
token encryption key, the broker queue, the emulator URL and the throttle's
Redis keys.  The emulator is a real HTTP server started by the test: the
workers are separate processes.
"""

from __future__ import annotations

import os
import typing as t

from flask import Flask

from flask_qbo.emulator import EmulatorConfig
from flask_qbo.intuit.throttle import RedisBackend
from flask_qbo.intuit.throttle import build_throttle
from flask_qbo.intuit.throttle import install
from flask_qbo.runners.celery import celery_init_app

from ..hostapp import make_app

#: Environment variables the test sets for itself and for the workers.
ENV_KEYS = (
    "QBO_CELERY_TEST_DB",
    "QBO_CELERY_TEST_BROKER",
    "QBO_CELERY_TEST_QUEUE",
    "QBO_CELERY_TEST_EMULATOR",
    "QBO_CELERY_TEST_KEY",
    "QBO_CELERY_TEST_REDIS",
    "QBO_CELERY_TEST_PREFIX",
    "QBO_CELERY_TEST_TIME_SCALE",
    "QBO_CELERY_TEST_PER_WINDOW",
    "QBO_CELERY_TEST_CONCURRENT",
    "QBO_CELERY_TEST_STATS",
)


def build_app(env: t.Mapping[str, str]) -> Flask:
    """The host app on PostgreSQL with ``QBO_RUNNER = "celery"``, pointed at the emulator over HTTP.

    The throttle keeps its Redis keys under the run's own prefix, and its
    window is shortened to match the emulator's ``time_scale``.
    """
    app = make_app(
        env["QBO_CELERY_TEST_DB"],
        QBO_RUNNER="celery",
        QBO_TOKEN_ENCRYPTION_KEY=env["QBO_CELERY_TEST_KEY"],
        QBO_EMULATOR_URL=env["QBO_CELERY_TEST_EMULATOR"],
        QBO_WEBHOOK_VERIFIER_TOKEN=EmulatorConfig().webhook_verifier_token,
        QBO_RATE_LIMIT_STORAGE_URL=env["QBO_CELERY_TEST_REDIS"],
        QBO_RATE_LIMIT_PER_MINUTE=int(env["QBO_CELERY_TEST_PER_WINDOW"]),
        QBO_MAX_CONCURRENT=int(env["QBO_CELERY_TEST_CONCURRENT"]),
        QBO_CDC_INTERVAL=1,
        QBO_HTTP_TIMEOUT=10.0,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        CELERY={
            "broker_url": env["QBO_CELERY_TEST_BROKER"],
            "task_default_queue": env["QBO_CELERY_TEST_QUEUE"],
            "broker_connection_retry_on_startup": True,
            "worker_hijack_root_logger": False,
        },
    )
    celery_init_app(app)
    throttle = install(app, build_throttle(app, time_scale=float(env["QBO_CELERY_TEST_TIME_SCALE"])))
    assert isinstance(throttle.backend, RedisBackend), throttle.backend
    throttle.backend.prefix = env["QBO_CELERY_TEST_PREFIX"]
    return app


def record_task_stats(flask_app: Flask, redis_url: str, key: str) -> None:
    """Count, per task kind (push, pull), tasks run, tasks that claimed no row, SQL statements and changes made.

    Kept in the Redis hash ``key``, summed over every worker: what
    ``benchmarks.scale_compare`` reports as empty tasks and statements per change.
    """
    import redis
    import sqlalchemy as sa
    from celery.signals import task_postrun
    from celery.signals import task_prerun

    from flask_qbo.runners.celery import PULL_TASK
    from flask_qbo.runners.celery import PUSH_TASK

    from ..hostapp import db

    client = redis.Redis.from_url(redis_url)
    statements, claimed = [0], [0]
    with flask_app.app_context():
        engine = db.engine

    def count(conn: t.Any, cursor: t.Any, statement: str, *args: t.Any) -> None:
        statements[0] += 1
        if statement.startswith(("UPDATE qbo_outbox SET", "UPDATE qbo_inbox SET")) and "attempts=(" in statement:
            claimed[0] += max(cursor.rowcount, 0)  # a claim counts the attempt; nothing else does

    sa.event.listen(engine, "after_cursor_execute", count)

    def started(task: t.Any = None, **kwargs: t.Any) -> None:
        statements[0] = claimed[0] = 0

    def finished(task: t.Any = None, retval: t.Any = None, **kwargs: t.Any) -> None:
        if task is None or task.name not in (PUSH_TASK, PULL_TASK):
            return
        kind = task.name.rsplit(".", 1)[-1]
        done = retval if isinstance(retval, int) else 0
        pipe = client.pipeline()
        pipe.hincrby(key, f"{kind}_tasks", 1)
        pipe.hincrby(key, f"{kind}_empty", 0 if claimed[0] else 1)  # claimed no row: found nothing to do
        pipe.hincrby(key, f"{kind}_sql", statements[0])
        pipe.hincrby(key, f"{kind}_done", done)
        pipe.execute()

    task_prerun.connect(started, weak=False)
    task_postrun.connect(finished, weak=False)


if os.environ.get("QBO_CELERY_TEST_DB"):
    flask_app = build_app(os.environ)
    celery = flask_app.extensions["celery"]
    if os.environ.get("QBO_CELERY_TEST_STATS"):
        record_task_stats(flask_app, os.environ["QBO_CELERY_TEST_REDIS"], os.environ["QBO_CELERY_TEST_STATS"])
