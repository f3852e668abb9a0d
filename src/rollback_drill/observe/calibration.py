"""What `calibrate` measured, turned into numbers a profile can carry (pure logic, no cluster).

A profile's values are assumptions until a team measures its own: its image's pull and boot, how
long GKE's load balancer takes to accept a new pod (the NEG readiness gate), how long an Ingress
backend switch takes to reach users and how long users get 502s during it, and how long its past
Cloud SQL restores took. The cluster work is drill/calibrate.py; here are the samples and what they
say: each measured value is the median of its samples, its stated range the samples' spread widened
by the measurement's resolution (a readiness probe's period, the probing interval), and its source
says where, when, how many and how. What was not measured keeps the base profile's value and source
and says why it was not measured — never a number presented as read.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Measured:
    """Samples of one profile parameter (seconds), how they were taken, and how fine that is."""

    samples: list[float]
    method: str
    resolution_s: float = 0.0
    unit: str = "s"

    @property
    def value(self) -> float:
        return round(statistics.median(self.samples), 1)

    @property
    def range(self) -> list[float]:
        """The samples' spread widened by the resolution, rounded outwards to 0.1 (never narrower)."""
        lo = max(0.0, min(self.samples) - self.resolution_s)
        hi = max(self.samples) + self.resolution_s
        return [math.floor(lo * 10 + 1e-6) / 10, math.ceil(hi * 10 - 1e-6) / 10]

    def spread(self) -> str:
        lo, hi = min(self.samples), max(self.samples)
        return f"{lo:.1f}" if lo == hi else f"{lo:.1f}-{hi:.1f}"


@dataclass
class NotMeasured:
    """A parameter calibrate could not measure, and why (the base profile's value stays, said so)."""

    why: str


# ---- pods: boot and the readiness gate ------------------------------------------------------------
@dataclass
class PodTimes:
    """When the harness saw one pod's container running, its containers ready and the pod Ready
    (seconds on the harness's clock), and whether the pod carries a readiness gate."""

    name: str
    component: str
    running: float | None = None
    containers_ready: float | None = None
    ready: float | None = None
    gated: bool = False
    failure: str = ""  # why it never got ready (the container's waiting/terminated reason)

    @property
    def boot_s(self) -> float | None:
        if self.running is None or self.containers_ready is None:
            return None
        return max(0.0, self.containers_ready - self.running)

    @property
    def gate_s(self) -> float | None:
        if not self.gated or self.containers_ready is None or self.ready is None:
            return None
        return max(0.0, self.ready - self.containers_ready)


# ---- image pull: the kubelet's own measurement ----------------------------------------------------
_GO_DURATION = re.compile(r"(?P<n>\d+(?:\.\d+)?)(?P<u>h|ms|µs|us|ns|m|s)")
_SCALE = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_PULLED = re.compile(r'^Successfully pulled image "(?P<image>[^"]+)" in (?P<d>[0-9.hmsuµn]+)')


def go_duration(text: str) -> float | None:
    """Seconds of a Go duration string as the kubelet prints it (`1m2.5s`, `850ms`, `2.3s`)."""
    pos, total = 0, 0.0
    for m in _GO_DURATION.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group("n")) * _SCALE[m.group("u")]
        pos = m.end()
    return total if pos == len(text) and pos else None


def pulled_seconds(message: str) -> tuple[str, float] | None:
    """(image, seconds) of a kubelet `Pulled` event that pulled ("Successfully pulled image "X" in
    12.3s (12.3s including waiting)…"); None for "already present on machine" or any other text."""
    m = _PULLED.match(message or "")
    if not m:
        return None
    seconds = go_duration(m.group("d"))
    return None if seconds is None else (m.group("image"), seconds)


def first_pulls(pulls: list[dict]) -> list[float]:
    """One sample per node and image: the longest pull. A node pulls an image once; a pod that asked while
    that pull ran waits for it and then "pulls" in milliseconds (the layers are there) — not a pull time."""
    longest: dict[tuple[str, str], float] = {}
    for p in pulls:
        key = (str(p.get("node", "?")), str(p["image"]))
        longest[key] = max(longest.get(key, 0.0), float(p["seconds"]))
    return [longest[k] for k in sorted(longest)]


# ---- an Ingress backend switch seen by probes -----------------------------------------------------
@dataclass(frozen=True)
class Answer:
    """One probe through the Ingress: when (harness clock), the HTTP status (0: no answer) and which
    of calibrate's backends served it ("" when no pod of ours did: the controller or load balancer)."""

    t: float
    status: int
    backend: str = ""


@dataclass
class Switch:
    """One switch of the throwaway Ingress from one backend to the other."""

    at: float
    to: str
    first_new: float | None = None  # first answer from the new backend
    propagation_s: float | None = None  # switch -> first answer from the new backend
    window_502_s: float = 0.0  # first 5xx not from a pod -> first answer from the new backend
    mixed_s: float = 0.0  # first new -> last old answer (old and new backends both answering)
    not_from_pod: int = 0  # answers in between that no pod gave (404 of the controller, 502/503, none)
    answers: int = 0

    def to_dict(self) -> dict:
        return {"to": self.to, "propagation_s": _r(self.propagation_s), "window_502_s": _r(self.window_502_s),
                "mixed_s": _r(self.mixed_s), "answers": self.answers, "answers_not_from_a_pod": self.not_from_pod}


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def analyse_switch(answers: list[Answer], at: float, to: str) -> Switch:
    """What the probes saw after the Ingress was switched to backend `to` at `at`: when the new
    backend first answered, the span of gateway errors (no pod answered: 502/503/504) just before it,
    and how long the old backend kept answering after it."""
    sw = Switch(at=at, to=to)
    after = [a for a in answers if a.t >= at]
    sw.answers = len(after)
    first_new = next((a for a in after if a.backend == to), None)
    if first_new is None:
        sw.not_from_pod = sum(1 for a in after if not a.backend)
        return sw
    sw.first_new = first_new.t
    sw.propagation_s = first_new.t - at
    before = [a for a in after if a.t < first_new.t]
    sw.not_from_pod = sum(1 for a in before if not a.backend)
    # the 502 window: the run of gateway errors that ends at the first new answer
    start = None
    for a in reversed(before):
        if a.backend or not 500 <= a.status <= 504:
            break
        start = a.t
    sw.window_502_s = first_new.t - start if start is not None else 0.0
    last_old = max((a.t for a in after if a.backend and a.backend != to and a.t > first_new.t), default=None)
    sw.mixed_s = last_old - first_new.t if last_old is not None else 0.0
    return sw


# ---- Cloud SQL: past restores from `gcloud sql operations list --format=json` ---------------------
def _ts(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass
class Restores:
    """Restores read from an instance's operation history."""

    done: list[dict] = field(default_factory=list)  # {name, pending_s, running_s, backup}
    failed: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    other_operations: int = 0


class OperationsUnreadable(ValueError):
    """The operations answer is not what `gcloud sql operations list --format=json` prints."""


def restores(payload: object) -> Restores:
    """The RESTORE_VOLUME operations of a `gcloud sql operations list --format=json` answer (a JSON list
    of Operation resources: insertTime, startTime, endTime, status, error): pending = start - insert,
    running = end - start, for the ones DONE without error; failed and unfinished ones named apart."""
    if not isinstance(payload, list):
        raise OperationsUnreadable("expected a JSON list of operations (what `gcloud sql operations list "
                                   "--format=json` prints)")
    out = Restores()
    for i, op in enumerate(payload):
        if not isinstance(op, dict):
            raise OperationsUnreadable(f"item {i}: expected an operation object")
        if op.get("operationType") != "RESTORE_VOLUME":
            out.other_operations += 1
            continue
        name = str(op.get("name") or f"item {i}")
        if op.get("status") != "DONE":
            out.unfinished.append(name)
            continue
        if op.get("error"):
            out.failed.append(name)
            continue
        ins, start, end = _ts(op.get("insertTime")), _ts(op.get("startTime")), _ts(op.get("endTime"))
        if not (ins and start and end) or not ins <= start <= end:
            raise OperationsUnreadable(f"operation {name}: insertTime <= startTime <= endTime expected, got "
                                       f"{op.get('insertTime')!r}, {op.get('startTime')!r}, {op.get('endTime')!r}")
        out.done.append({"name": name, "pending_s": (start - ins).total_seconds(),
                         "running_s": (end - start).total_seconds(),
                         "backup": str((op.get("backupContext") or {}).get("backupId") or "")})
    return out


# ---- the profile -----------------------------------------------------------------------------------
def calibrated_parameters(base_params: dict[str, dict], measured: dict[str, Measured | NotMeasured],
                          where: str, when: str, base_name: str) -> dict[str, dict]:
    """The profile's `parameters`: measured ones from their samples, every other one the base's,
    its source saying it was not measured and why."""
    out: dict[str, dict] = {}
    for name, spec in base_params.items():
        m = measured.get(name)
        if isinstance(m, Measured) and m.samples:
            res = f", resolution ±{m.resolution_s:g} s" if m.resolution_s else ""
            out[name] = {"value": m.value, "range": m.range, "unit": m.unit,
                         "source": f"measured on {where} at {when}: {len(m.samples)} sample"
                                   f"{'s' if len(m.samples) != 1 else ''}, spread {m.spread()} {m.unit}{res}; "
                                   f"{m.method}"}
        else:
            why = m.why if isinstance(m, NotMeasured) else "calibrate does not measure it"
            kept = {k: v for k, v in spec.items() if k != "source"}
            out[name] = {**kept, "source": f"not measured ({why}); kept from profile {base_name}: {spec['source']}"}
    return out
