"""The faults that make each criterion true, chosen by the criterion's meaning and injected into
the Helm release only.

A fault is a real misbehaviour of the new release: the pods of `mastodon-helm` read their fault
switches from the ConfigMap `mastodon-helm-faults` (a value of the Helm chart) every 0.5 s and then
really fail — wrong DB password, refused connections, stalled workers, 5xx answers, added
latency. The old Kustomize stack has no such switches, so what removes the fault is the
runbook's rollback, never the harness flipping it back.

The fault follows the criterion's kind and is sized from its threshold (never from its id or
its position in the runbook): a 5xx ratio clearly above the runbook's number, a latency clearly
above its factor times the measured pre-fault baseline. The description says by how much.

Configuration mistakes (`style="config"`) are the other kind: what a migration gets wrong in the
release's values, applied with `helm upgrade --reuse-values` at the official mastodon/chart's value
paths, so the pods roll and really run misconfigured — a wrong database password, a sidekiq worker
whose queue list lost the queues Mastodon's jobs use. They need no switch in the application, so
they are what a drill of a team's own release can use; only criteria with such a mistake have one.

The system under test knows no runbook text: the drill hands in the criterion as data (anything
with the `Criterion` protocol's fields below; the runbook's own Criterion has them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rollback_drill.cluster.kube import Kube
from rollback_drill.sut.application import Application

PERFORMANCE_FACTOR = 2.0  # "performance clearly degraded" states no number: the detector's default
MIN_ADDED_LATENCY_MS = 300  # below this, load noise on 2 cores can hide the fault


@dataclass(frozen=True)
class Fault:
    name: str
    switches: dict  # written as faults.json; empty = none
    description: str
    values: dict | None = None  # a configuration mistake: chart value path -> value (helm upgrade --reuse-values)


class Criterion(Protocol):
    """What a fault is chosen and sized from: the criterion's kind and threshold (a ratio, 0.5 for
    50 %, or a latency factor), and its line and text, quoted when no fault fits."""

    @property
    def kind(self) -> str: ...

    @property
    def threshold(self) -> float | None: ...

    @property
    def line(self) -> int: ...

    @property
    def text(self) -> str: ...


class NoFault(KeyError):
    """The fault catalogue has nothing that makes this criterion true."""


# Faults with no size: the criterion's kind alone says what breaks.
FIXED: dict[str, Fault] = {
    "db": Fault("db-wrong-credentials", {"db": "wrong-credentials"}, "Helm release uses a wrong DB password"),
    "login": Fault("sessions-broken", {"sessions": "broken"}, "sign-in sessions never verify (secret key mismatch)"),
    "jobs": Fault("sidekiq-stalled", {"worker": "stalled"}, "Helm sidekiq stops taking jobs"),
    "media": Fault("media-storage-broken", {"media": "broken"}, "Helm web cannot write media to storage"),
    "streaming": Fault("streaming-down", {"streaming": "down"}, "Helm streaming refuses connections (503)"),
    "feature": Fault("streaming-down", {"streaming": "down"},
                     "one feature down: Helm streaming refuses connections (503)"),
    "security": Fault("none", {}, "no fault: a person declares a serious security problem"),
}
KINDS = ("error_ratio", "latency_factor", "performance", *FIXED)

# Configuration mistakes, at the official chart's value paths. The queue list keeps only
# `scheduler`: Mastodon enqueues its work (distribution, media processing) on `default` and the
# others, which then nobody processes.
CONFIG: dict[str, Fault] = {
    "db": Fault("config-db-password", {}, "the release's database password is wrong (postgresql.auth.password)",
                {"postgresql.auth.password": "migration-typo-not-the-password"}),
    # A changed SECRET_KEY_BASE only signs web sessions out once in Mastodon (OAuth tokens are database
    # rows; a new sign-in works): not "users cannot log in". With LDAP_ENABLED, every password sign-in
    # asks the LDAP server first, local accounts too, and an unreachable server raises Net::LDAP::Error,
    # which nothing rescues: 500 (mastodon v4.6 app/controllers/auth/sessions_controller.rb 51-55,
    # app/models/concerns/user/ldap_authenticable.rb 7-13; chart configmap-env.yaml 384-388).
    "login": Fault("config-ldap-unreachable", {}, "the release turns on LDAP sign-in against a server it cannot "
                   "reach (externalAuth.ldap.enabled, .host, .port): every password sign-in answers 500",
                   {"externalAuth.ldap.enabled": True, "externalAuth.ldap.host": "127.0.0.1",
                    "externalAuth.ldap.port": 1}),
    "media": Fault("config-s3-credentials", {}, "the release's object-storage secret is wrong (mastodon.s3.access_secret)",
                   {"mastodon.s3.access_secret": "migration-typo-not-the-key"}),
    # the team's Ingress still routes /api/v1/streaming to port 4000 of the release's streaming Service
    "streaming": Fault("config-streaming-port", {}, "the release's streaming port changed (mastodon.streaming.port "
                       "4001) while the Ingress still routes to 4000", {"mastodon.streaming.port": 4001}),
    "jobs": Fault("config-sidekiq-queues", {}, "the release's sidekiq worker lost its queues "
                  "(mastodon.sidekiq.workers[0].queues = [scheduler])",
                  {"mastodon.sidekiq.workers": [{"name": "all-queues", "concurrency": 25, "replicas": 1,
                                                 "queues": ["scheduler"]}]}),
}
CONFIG["feature"] = CONFIG["streaming"]  # "some features broken": streaming is the feature the drill breaks


def describe(criterion: Criterion) -> str:
    """What a drill of this criterion injects, before any baseline is measured (for `runbook`)."""
    if criterion.kind == "error_ratio":
        return f"web-5xx: {error_ratio_for(criterion.threshold):.0%} of answers 500"
    if criterion.kind in ("latency_factor", "performance"):
        f = criterion.threshold if criterion.kind == "latency_factor" else PERFORMANCE_FACTOR
        return f"latency: added so the median reaches >= {2 * f:g}x the measured baseline (>= {MIN_ADDED_LATENCY_MS} ms)"
    if criterion.kind in FIXED:
        return FIXED[criterion.kind].name
    raise NoFault(f"no fault for a criterion of kind '{criterion.kind}'")


def error_ratio_for(threshold: float, scale: float = 1.0) -> float:
    """Twice the threshold (at least 10 points above it), at most 95 %; `scale` < 1 sizes it below."""
    if scale != 1.0:
        return round(threshold * scale, 4)
    return round(min(0.95, max(2 * threshold, threshold + 0.10)), 4)


def fault_for(criterion: Criterion, baseline_s: float | None = None, scale: float = 1.0,
              performance_factor: float = PERFORMANCE_FACTOR, style: str = "switch",
              config_paths: dict | None = None) -> Fault:
    """The fault that makes `criterion` true (scale < 1: a fault sized below its threshold);
    `style="config"`: the configuration mistake for it, if the catalogue has one; `config_paths`
    (the sidecar's `config_faults`): a team's own value paths for a kind, replacing the official chart's."""
    kind, thr = criterion.kind, criterion.threshold
    if style == "config":
        if config_paths and kind in config_paths:
            return Fault(f"config-{kind}", {}, f"the release's values changed by the sidecar's config_faults.{kind} "
                         f"({', '.join(config_paths[kind])})", dict(config_paths[kind]))
        if kind not in CONFIG:
            raise NoFault(f"no configuration mistake makes a criterion of kind '{kind}' true (known: "
                          f"{', '.join(sorted(CONFIG))}; line {criterion.line}: '{criterion.text}')")
        return CONFIG[kind]
    if kind == "error_ratio":
        r = error_ratio_for(thr, scale)
        return Fault("web-5xx", {"error_ratio": r},
                     f"Helm web pods answer {r:.1%} of requests with 500 ({r / thr:.1f}x the runbook's {thr:.0%})")
    if kind in ("latency_factor", "performance"):
        factor = thr if kind == "latency_factor" else performance_factor
        base_ms = 1000 * (baseline_s or 0.1)
        added = (2 * factor - 1) * base_ms * scale
        added = round(added if scale != 1.0 else max(MIN_ADDED_LATENCY_MS, added))
        return Fault("latency", {"latency_ms": added},
                     f"Helm web pods add {added} ms to every answer: about {(base_ms + added) / base_ms:.1f}x the "
                     f"pre-fault median {base_ms:.0f} ms (criterion: {factor:g}x)")
    if kind in FIXED:
        return FIXED[kind]
    raise NoFault(f"the fault catalogue has no fault for a criterion of kind '{kind}' "
                  f"(line {criterion.line}: '{criterion.text}')")


def inject(kube: Kube, fault: Fault, app: Application, chart: Path | None = None) -> None:
    """Set the Helm release's fault switches (takes effect in the pods within ~0.5 s), or make its
    configuration mistake with `helm upgrade --reuse-values` (the pods roll, as after a team's upgrade).
    --no-hooks: with hooks, the chart's pre-upgrade migration Job would fail on a wrong password and
    Helm would stop before any pod changed — caught, not an outage; the drill rehearses the mistake
    that reached the pods."""
    if fault.values is None:
        kube.patch_configmap(app.faults_configmap, {"faults.json": json.dumps(fault.switches)})
        return
    sets = [a for path, v in fault.values.items() for a in ("--set-json", f"{path}={json.dumps(v)}")]
    kube.helm("upgrade", app.release, str(chart), "--reuse-values", "--no-hooks", *sets, timeout=120)
