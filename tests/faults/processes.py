"""Real processes for the fault suite: gunicorn, Redis, a Celery worker, HTTP calls.

Every process is started by the test on a free port of 127.0.0.1, in a session
of its own, and stopped by its PID (its process group for the Celery worker,
whose pool children must die with it). Nothing here touches the shared
PostgreSQL or Redis beyond the test database.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

BASE_DIR = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_address() -> tuple[str, int]:
    """Where the test database listens."""
    db = connection.settings_dict
    return db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)


def database_url(*, host: str | None = None, port: int | None = None) -> str:
    """The test database's URL, optionally through another address (the proxy)."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"])
    host = host or db["HOST"] or "127.0.0.1"
    port = port or int(db["PORT"] or 5432)
    return f"postgres://{credentials}@{host}:{port}/{quote(db['NAME'])}"


def base_env(**overrides: str) -> dict[str, str]:
    """The environment of a child process: production switches, no shared Redis."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL", "DEBUG"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="studiosim.settings",
        SECRET_KEY=settings.SECRET_KEY or secrets.token_urlsafe(32),
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        LOG_LEVEL="WARNING",
        MODEL_ARTIFACT_DIR=str(settings.MODEL_ARTIFACT_DIR),
    )
    env.update(overrides)
    return env


def stop(process: subprocess.Popen, *, group: bool = False) -> None:
    """SIGTERM, then SIGKILL after 15 s; by PID (or the process group it leads)."""
    if process.poll() is not None:
        return
    send = (lambda sig: os.killpg(process.pid, sig)) if group else process.send_signal
    send(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        process.wait(timeout=10)


# --- gunicorn ------------------------------------------------------------------------


@dataclass
class Gunicorn:
    process: subprocess.Popen
    port: int
    log: Path

    def post(
        self, query: str, variables: dict | None = None, *, token: str, timeout=30.0
    ) -> Answer:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        return request(
            self.port,
            "POST",
            "/graphql/",
            body,
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=timeout,
        )

    def health(self, timeout=30.0) -> Answer:
        return request(self.port, "GET", "/health/", b"", {}, timeout=timeout)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_gunicorn(
    tmp_path: Path, env: dict[str, str], *, workers: int = 2
) -> Gunicorn:
    port = free_port()
    log = tmp_path / f"gunicorn-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                str(BASE_DIR / "gunicorn.conf.py"),
                "studiosim.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Gunicorn(process, port, log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{server.log_text()[-3000:]}")
        try:
            # Up, and refusing a request without a token as it should.
            if request(port, "POST", "/graphql/", b"{}", {}, timeout=5).status:
                return server
        except OSError:
            time.sleep(0.2)
    stop(process)
    raise AssertionError(f"gunicorn did not answer in 90 s:\n{server.log_text()}")


# --- HTTP ------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self):
        return json.loads(self.body)

    def error_codes(self) -> list[str]:
        try:
            body = self.json()
        except ValueError:
            return []
        return [
            (e.get("extensions") or {}).get("code") for e in body.get("errors") or []
        ]


def request(
    port: int,
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
) -> Answer:
    """One request on a fresh connection; OSError when none can be made."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return Answer(
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            data,
            time.monotonic() - started,
        )
    finally:
        conn.close()


# --- Redis -----------------------------------------------------------------------------


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, tmp_path: Path) -> RedisServer:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed for the fault suite"
        self.process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(tmp_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would: nothing is saved."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


# --- Celery ----------------------------------------------------------------------------


def start_celery_worker(tmp_path: Path, env: dict[str, str], name: str):
    """``celery worker`` of the fault suite's app (tests.faults.celery_app), one
    pool process, in a process group of its own."""
    log = tmp_path / f"celery-{name}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tests.faults.celery_app",
                "worker",
                "--loglevel=info",
                "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--hostname",
                f"faults-{name}-{uuid.uuid4().hex[:6]}@%h",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, log
