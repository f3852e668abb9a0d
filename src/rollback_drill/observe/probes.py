"""Steady-state probes: what a user (and the runbook's 手順4) checks, at >= 2 Hz, through the Ingress.

Each probe is a small function that does one real user action against the Ingress (127.0.0.1,
or a staging URL the user allowed explicitly) with the public host name, and says ok / not ok. They run as greenlets beside locust, each
bounded by its interval, a per-request timeout and the drill's stop event.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field

import gevent
import gevent.event
import requests

from rollback_drill.observe.timeline import ProbeSample, Timeline

# An answer later than this is a failed probe. 5 s, not 2: with two drills side by side on two cores
# (pytest -n 2) a healthy stub answered a sign-in-and-post probe in 2-3 s now and then, and the drill's
# own contention must not become a finding; slowness itself is the latency criteria's (baseline x factor).
TIMEOUT = 5.0
# Jobs are "not processed" when the processed counter stayed flat this long with jobs enqueued. 2 s was
# shorter than a lab worker's pause when four drills share two cores (a mutation run at N=2 saw 2.5 s after
# recovery and called it a failed 実施後 check): 5 s is still seconds against the runbook's criterion
# (background jobs not processed) and leaves a stalled worker detected within ~6 s.
JOBS_FLAT_S = 5.0
# An uploaded medium is "not processed" (the worker's job) after this long. 3 s was shorter than a lab
# worker's pause with the host taking ~18 % of the CPU (a fresh suite run on 2026-12-01 failed the monitoring
# item of 実施後 on one such pause after a recovery): the same bar as the jobs counter's.
MEDIA_PROCESSED_S = JOBS_FLAT_S


@dataclass
class Target:
    base_url: str  # http://127.0.0.1:PORT (the drill's Ingress), or a staging URL the user allowed explicitly
    host: str  # public host name the Ingress routes on
    username: str
    password: str
    client_id: str = ""  # a real Mastodon's password grant needs a registered app (the stub accepts none)
    client_secret: str = ""
    own_ingress: bool = False  # the drill cluster's own Ingress on a loopback address (else: the allow-list)
    ca_bundle: str = ""  # a staging CA's certificates (PEM); "" = the system's trust store

    def __post_init__(self) -> None:
        from rollback_drill.untrusted import target_origin
        self.base_url = str(target_origin(self.base_url, self.own_ingress))

    @property
    def verify(self) -> bool | str:
        """TLS is always verified: against the given CA bundle, else the system's."""
        return self.ca_bundle or True

    def password_grant(self) -> dict[str, str]:
        """The body of POST /oauth/token (Doorkeeper's password grant, as Mastodon takes it)."""
        body = {"grant_type": "password", "username": self.username, "password": self.password}
        if self.client_id:
            body |= {"client_id": self.client_id, "client_secret": self.client_secret, "scope": "read write"}
        return body


@dataclass
class ProbeState:
    token: str | None = None
    last_processed: int | None = None
    processed_changed_at: float = field(default_factory=time.monotonic)


class ProbeError(Exception):
    pass


class Probes:
    """The steady-state probe set. `names` is what a drill waits on for recovery.

    Each probe is also a user action of one kind (`ACTION_KIND`): what users saw is counted per
    kind, and the pod that answered (X-Served-By) is kept with every sample.
    """

    names = ("health", "login", "post", "db", "jobs", "media", "streaming")
    ACTION_KIND = {"health": "read", "login": "sign_in", "post": "post", "db": "read", "jobs": "jobs",
                   "media": "media_upload", "streaming": "streaming", "data": "read"}

    def __init__(self, target: Target, timeline: Timeline, interval_s: float = 0.5) -> None:
        self.target, self.tl, self.interval = target, timeline, interval_s
        self.session = requests.Session()
        self.session.headers["Host"] = target.host
        self.state = ProbeState()
        self.stop_event = gevent.event.Event()
        self.greenlets: list[gevent.Greenlet] = []
        self._served: dict[gevent.Greenlet, str] = {}  # the pod of the last answer each probe got

    # ---- the probes -------------------------------------------------------------------------
    def _req(self, method: str, path: str, **kw) -> requests.Response:
        # no redirect is followed: a 3xx is the answer (the password grant never goes anywhere else);
        # `verify` per request: a session's is overridden by $REQUESTS_CA_BUNDLE, a request's is not
        r = self.session.request(method, self.target.base_url + path, timeout=TIMEOUT, allow_redirects=False,
                                 verify=self.target.verify, **kw)
        self._served[gevent.getcurrent()] = r.headers.get("X-Served-By", "")
        return r

    def _login(self) -> str:
        r = self._req("POST", "/oauth/token", json=self.target.password_grant())
        if r.status_code != 200:
            raise ProbeError(f"sign-in {r.status_code}")
        token = r.json()["access_token"]
        v = self._req("GET", "/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {token}"})
        if v.status_code != 200:
            raise ProbeError(f"verify_credentials {v.status_code} after sign-in")
        return token

    def _auth(self) -> dict[str, str]:
        if self.state.token is None:
            self.state.token = self._login()
        return {"Authorization": f"Bearer {self.state.token}"}

    def probe_health(self) -> str:
        r = self._req("GET", "/health")
        if r.status_code != 200 or r.text.strip() != "OK":
            raise ProbeError(f"/health {r.status_code}")
        return r.headers.get("X-Served-By", "")

    def probe_login(self) -> str:
        self.state.token = self._login()
        return "signed in"

    def probe_post(self) -> str:
        text = f"probe {time.time():.3f}"
        r = self._req("POST", "/api/v1/statuses", json={"status": text}, headers=self._auth())
        if r.status_code == 401:
            self.state.token = None
        if r.status_code != 200:
            raise ProbeError(f"post {r.status_code}")
        sid = r.json()["id"]
        g = self._req("GET", f"/api/v1/statuses/{sid}")
        if g.status_code != 200 or text not in g.json().get("content", ""):
            raise ProbeError(f"read back {g.status_code}")
        return f"status {sid}"

    def probe_db(self) -> str:
        r = self._req("GET", "/api/v1/instance")
        if r.status_code != 200:
            raise ProbeError(f"/api/v1/instance {r.status_code}: {r.text[:80]}")
        return f"{r.json()['stats']['status_count']} statuses"

    def probe_jobs(self) -> str:
        r = self._req("GET", "/sidekiq/stats")
        if r.status_code != 200:
            raise ProbeError(f"/sidekiq/stats {r.status_code}")
        s = r.json()["sidekiq"]
        now = time.monotonic()
        if s["processed"] != self.state.last_processed:
            self.state.last_processed = s["processed"]
            self.state.processed_changed_at = now
        flat = now - self.state.processed_changed_at
        if s["enqueued"] > 0 and flat >= JOBS_FLAT_S:
            raise ProbeError(f"processed flat for {flat:.1f}s with {s['enqueued']} enqueued")
        return f"processed={s['processed']} enqueued={s['enqueued']}"

    def probe_media(self) -> str:
        files = {"file": ("probe.png", io.BytesIO(b"\x89PNG probe " + str(time.time()).encode()), "image/png")}
        r = self._req("POST", "/api/v2/media", files=files, headers=self._auth())
        if r.status_code == 401:
            self.state.token = None
        if r.status_code not in (200, 202):
            raise ProbeError(f"upload {r.status_code}")
        mid = r.json()["id"]
        deadline = time.monotonic() + MEDIA_PROCESSED_S
        while time.monotonic() < deadline:
            g = self._req("GET", f"/api/v1/media/{mid}")
            if g.status_code == 200:
                return f"media {mid} processed"
            gevent.sleep(0.1)
        raise ProbeError(f"media {mid} not processed within {MEDIA_PROCESSED_S:g}s")

    def probe_streaming(self) -> str:
        r = self._req("GET", "/api/v1/streaming/health")
        if r.status_code != 200:
            raise ProbeError(f"/api/v1/streaming/health {r.status_code}")
        return r.headers.get("X-Served-By", "")

    # ---- running ----------------------------------------------------------------------------
    def sample(self, name: str) -> ProbeSample:
        t0 = time.monotonic()
        start = self.tl.now()
        self._served[gevent.getcurrent()] = ""
        try:
            detail = getattr(self, f"probe_{name}")()
            ok = True
        except (ProbeError, requests.RequestException, ValueError, KeyError) as e:
            ok, detail = False, str(e)[:200]
        end = self.tl.now()  # when the answer arrived: detection and recovery use this time
        s = ProbeSample(name, end, ok, time.monotonic() - t0, detail, t_start=start,
                        served_by=self._served.pop(gevent.getcurrent(), ""))
        self.tl.add_sample(s)
        self.tl.record_action(self.ACTION_KIND.get(name, "read"), ok, end)
        return s

    def _loop(self, name: str) -> None:
        while not self.stop_event.is_set():
            t0 = time.monotonic()
            self.sample(name)
            self.stop_event.wait(max(0.0, self.interval - (time.monotonic() - t0)))

    def start(self) -> None:
        self.greenlets = [gevent.spawn(self._loop, n) for n in self.names]

    def stop(self) -> None:
        self.stop_event.set()
        gevent.joinall(self.greenlets, timeout=1.0)  # a probe mid-request is ended: stopping stays prompt
        gevent.killall([g for g in self.greenlets if not g.dead])

    def all_green(self, since: float) -> bool:
        return all((ss := self.tl.probe_samples(n, since)) and ss[-1].ok for n in self.names)
