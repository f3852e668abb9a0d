"""User load with locust used as a library: Environment + runner + stats, headless.

A Mastodon-like mix (timelines, posting, sign-in, media, streaming health) through the Ingress
on 127.0.0.1 only, bounded in users, in requests per second per user and in time. Every request
lands in the drill's timeline, so the 5xx ratio the detectors see is what users saw.

Load one process cannot give uses locust's own distributed mode (`LoadConfig.workers` > 0): this
process is the master, N worker processes (observe/load_worker.py) run the users and send every
request back (monotonic time, which all processes on the machine share) for the timeline; the
statistics in the journal are the master's aggregate, as with one process.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

from locust import FastHttpUser, constant_throughput, task  # noqa: I001 - locust patches gevent first
from locust.env import Environment

import gevent
import gevent.ssl

from rollback_drill.observe.probes import Target
from rollback_drill.observe.timeline import Timeline


@dataclass
class LoadConfig:
    users: int = 6
    rps_per_user: float = 5.0
    max_seconds: float = 900.0  # hard stop: a load that outlives its drill is a bug
    workers: int = 0  # 0: users run in this process; N: locust master here and N worker processes

    @property
    def target_rps(self) -> float:
        return self.users * self.rps_per_user


def make_user_class(target: Target, cfg: LoadConfig) -> type[FastHttpUser]:
    class MastodonUser(FastHttpUser):
        host = target.base_url
        default_headers = {"Host": target.host}
        wait_time = constant_throughput(cfg.rps_per_user)
        network_timeout = 3.0
        connection_timeout = 2.0
        insecure = False  # locust's default skips TLS verification: the password grant would go to anyone
        if target.ca_bundle:
            ssl_context_factory = staticmethod(lambda: gevent.ssl.create_default_context(cafile=target.ca_bundle))

        def on_start(self) -> None:
            self.client.client.redirect_response_codes = frozenset()  # no redirect followed: a 3xx is the answer
            self.token = None
            self.sign_in()

        def _auth(self) -> dict[str, str]:
            return {"Authorization": f"Bearer {self.token}"} if self.token else {}

        @task(1)
        def sign_in(self) -> None:
            with self.client.post("/oauth/token", json=target.password_grant(), name="POST /oauth/token",
                                  catch_response=True) as r:
                if r.status_code == 200:
                    self.token = r.json().get("access_token")

        @task(6)
        def public_timeline(self) -> None:
            self.client.get("/api/v1/timelines/public?limit=20", name="GET /api/v1/timelines/public")

        @task(4)
        def home_timeline(self) -> None:
            self.client.get("/api/v1/timelines/home?limit=20", headers=self._auth(), name="GET /api/v1/timelines/home")

        @task(2)
        def post_status(self) -> None:
            self.client.post("/api/v1/statuses", json={"status": f"load {time.time():.3f}"}, headers=self._auth(),
                             name="POST /api/v1/statuses")

        @task(1)
        def upload_media(self) -> None:
            body = io.BytesIO(b"\x89PNG load")
            self.client.post("/api/v2/media", files={"file": ("l.png", body, "image/png")}, headers=self._auth(),
                             name="POST /api/v2/media")

        @task(1)
        def streaming_health(self) -> None:
            self.client.get("/api/v1/streaming/health", name="GET /api/v1/streaming/health")

        @task(1)
        def instance(self) -> None:
            self.client.get("/api/v1/instance", name="GET /api/v1/instance")

    return MastodonUser


def answer_of(response) -> tuple[int | None, str]:
    """(HTTP status or None when no answer came, the pod that answered from X-Served-By)."""
    status = getattr(response, "status_code", None) or None
    served_by = (getattr(response, "headers", None) or {}).get("X-Served-By", "") if status else ""
    return status, served_by


# What each request is, as a user action (the outage report counts failures per kind).
ACTION_KIND = {"POST /oauth/token": "sign_in", "POST /api/v1/statuses": "post", "POST /api/v2/media": "media_upload",
               "GET /api/v1/streaming/health": "streaming"}


class Load:
    """Start/stop the load; every request is recorded into the timeline as it completes."""

    def __init__(self, target: Target, timeline: Timeline, cfg: LoadConfig | None = None) -> None:
        self.cfg = cfg or LoadConfig()
        self.tl = timeline
        self.env = Environment(user_classes=[make_user_class(target, self.cfg)])
        self.env.events.request.add_listener(self._on_request)
        self.target = target
        self.runner = None
        self.workers: list[subprocess.Popen] = []
        self._guard: gevent.Greenlet | None = None

    def _on_request(self, request_type, name, response_time, response_length, response=None,
                    exception=None, **kw) -> None:
        self._record(name, response_time, *answer_of(response), self.tl.now())

    def _on_worker_batch(self, msg, **kw) -> None:
        for t_mono, name, response_time, status, served_by in msg.data:
            self._record(name, response_time, status, served_by, t_mono - self.tl.t0)

    def _record(self, name: str, response_time: float | None, status: int | None, served_by: str, t: float) -> None:
        kind = ACTION_KIND.get(name, "read")
        wanted = status is not None and (status in (200, 202) if kind != "read" else 200 <= status < 400)
        self.tl.record_action(kind, wanted, t)
        if name == "POST /oauth/token" and status and status < 500:
            status = 200  # a refused sign-in counts as a failed sign-in above, not in the 5xx ratio
        self.tl.record_request((response_time or 0) / 1000.0, status, t, served_by)

    def start(self) -> None:
        if self.cfg.workers:
            self._start_distributed()
        else:
            self.runner = self.env.create_local_runner()
        self.runner.start(self.cfg.users, spawn_rate=self.cfg.users)
        self._guard = gevent.spawn_later(self.cfg.max_seconds, self.stop)

    def _start_distributed(self, timeout_s: float = 30.0) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.runner = self.env.create_master_runner("127.0.0.1", port)
        self.runner.register_message("requests", self._on_worker_batch)
        spec = json.dumps({"port": port, "target": asdict(self.target), "cfg": asdict(self.cfg)})
        for _ in range(self.cfg.workers):  # the spec (with the seed password) goes by stdin, never argv
            w = subprocess.Popen([sys.executable, "-m", "rollback_drill.observe.load_worker"], stdin=subprocess.PIPE,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            w.stdin.write(spec)
            w.stdin.close()
            self.workers.append(w)
        deadline = time.monotonic() + timeout_s
        while self.runner.worker_count < self.cfg.workers:
            dead = [w for w in self.workers if w.poll() is not None]
            if dead or time.monotonic() > deadline:
                err = dead[0].stderr.read()[-300:] if dead else f"only {self.runner.worker_count} connected"
                self.stop()
                raise RuntimeError(f"locust workers did not start ({self.cfg.workers} asked): {err}")
            gevent.sleep(0.1)

    def stop(self) -> dict:
        if self.runner is not None:
            if self.workers:  # stop first: each worker sends its last requests, then quit
                self.runner.stop()
                gevent.sleep(1.0)
            self.runner.quit()
            self.runner = None
        for w in self.workers:  # the master's quit ends them; a worker that lingers is ended here
            try:
                w.wait(timeout=5)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()
        self.workers = []
        if self._guard is not None and not self._guard.dead:
            self._guard.kill(block=False)
        return self.stats()

    def stats(self) -> dict:
        total = self.env.stats.total
        return {"requests": total.num_requests, "failures": total.num_failures,
                "rps": round(total.total_rps, 2), "p50_ms": total.get_response_time_percentile(0.5),
                "p95_ms": total.get_response_time_percentile(0.95),
                "users": self.cfg.users, "rps_per_user": self.cfg.rps_per_user, "workers": self.cfg.workers}
