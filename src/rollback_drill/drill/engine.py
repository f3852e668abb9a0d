"""One drill: migrated state -> load -> fault -> detect -> decide -> rollback -> recovered -> checks.

The steps of a Gherkin scenario and `rollback-drill run` call the same methods, in the same
order, so a scenario reads like the drill and the CLI runs the very same engine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from rollback_drill.observe import load as _load  # noqa: F401 - locust patches gevent before anything else
import gevent

from rollback_drill.cluster import Cluster
from rollback_drill.sut.deploy import HOST, Environment, deploy
from rollback_drill.observe.detectors import PROBE_FOR_KIND, Detection, DetectorConfig, baseline_latency, check
from rollback_drill.evidence.journal import Redactor
from rollback_drill.runbook.executor import ExecContext, run_commands
from rollback_drill.sut.faults import Fault, fault_for, inject
from rollback_drill.observe.load import Load, LoadConfig
from rollback_drill.observe.probes import Probes, Target
from rollback_drill.runbook.model import Criterion, Runbook, Trigger
from rollback_drill.observe.timeline import Timeline, recovered_at

PROBE_FOR_KIND.setdefault("data", "data")


class DrillError(RuntimeError):
    """The harness could not run the drill (not a verdict on the runbook)."""


@dataclass
class DrillConfig:
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    load: LoadConfig = field(default_factory=LoadConfig)
    probe_interval_s: float = 0.5
    stability_s: float = 10.0  # every probe green this long = recovered
    warmup_timeout_s: float = 60.0
    detection_timeout_s: float = 30.0
    recovery_timeout_s: float = 600.0  # never wait longer than this, even for Level 3's 2 h
    decision_slack_s: float = 1.0  # "即座" still allows the harness this long to start the rollback

    def to_dict(self) -> dict:
        return {"detector": self.detector.to_dict(), "load": asdict(self.load),
                "probe_interval_s": self.probe_interval_s, "stability_s": self.stability_s,
                "detection_timeout_s": self.detection_timeout_s, "recovery_timeout_s": self.recovery_timeout_s,
                "decision_slack_s": self.decision_slack_s}


class DataProbes(Probes):
    """The steady-state probes plus `data`: a status written before the migration reads back intact."""

    names = Probes.names + ("data",)

    def probe_data(self) -> str:
        r = self._req("GET", "/api/v1/statuses/1")
        if r.status_code != 200 or "Hello from alice" not in r.json().get("content", ""):
            raise ValueError(f"pre-migration status 1 damaged or missing ({r.status_code})")
        return "status 1 intact"


def data_corruption_trigger(runbook: Runbook, level_no: int = 3) -> Trigger:
    lv = runbook.level(level_no)
    return Trigger(f"L{level_no}", "Critical", 0.0, Criterion(lv.when or "data corrupted", lv.line, "data"))


class Drill:
    def __init__(self, cluster: Cluster, runbook: Runbook, config: DrillConfig | None = None) -> None:
        self.cluster, self.runbook = cluster, runbook
        self.cfg = config or DrillConfig()
        self.tl = Timeline()
        self.env: Environment | None = None
        self.probes: Probes | None = None
        self.load: Load | None = None
        self.ctx: ExecContext | None = None
        self.trigger: Trigger | None = None
        self.fault: Fault | None = None
        self.detection: Detection | None = None
        self.level_no: int | None = None
        self.decided_by: str = "rollback-drill (automatic, on detection)"
        self.baseline: float | None = None
        self.recovered: float | None = None
        self.checklist: list[dict] = []
        self.load_stats: dict = {}
        self.data: dict = {}
        self.pre_levels: list[int] = []

    # ---- Given --------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Deploy the just-migrated state anew and get the executor ready."""
        self.env = deploy(self.cluster, reset=True, log=lambda m: None)
        self.redactor = Redactor(self.env.secret_values())
        backups = self.env.datastores.list_backups()
        pre = next((b["id"] for b in backups if b.get("description") == "pre-helm-migration"), None)
        self.ctx = ExecContext.create(self.env.workdir, self.env.kube.env(), self.tl, self.redactor, HOST,
                                      self.env.ingress_url, self.cluster.pod_host_address, pre)
        target = Target(self.env.ingress_url, HOST, "alice@example.com", self.env.creds.seed_password)
        self.probes = DataProbes(target, self.tl, self.cfg.probe_interval_s)
        self.load = Load(target, self.tl, self.cfg.load)

    def start_traffic(self) -> None:
        """Load and probes on; wait until the system is in steady state (all probes green)."""
        self.load.start()
        self.probes.start()
        t0 = self.tl.now()
        deadline = t0 + self.cfg.warmup_timeout_s
        while self.tl.now() < deadline:
            gevent.sleep(0.25)
            if self.tl.now() - t0 >= self.cfg.detector.baseline_s and self.probes.all_green(self.tl.now() - 1.0):
                self.tl.mark("steady")
                return
        failing = [n for n in self.probes.names
                   if not ((ss := self.tl.probe_samples(n)) and ss[-1].ok)]
        raise DrillError(f"the migrated system never reached steady state: failing probes {failing} "
                         f"({[self.tl.probe_samples(n)[-1].detail for n in failing if self.tl.probe_samples(n)]})")

    def run_level_first(self, level_no: int) -> None:
        """Escalation: a lower level was already carried out before this drill's fault appears."""
        run_commands(self.ctx, self.runbook.level(level_no).commands, level_no)
        self.pre_levels.append(level_no)
        self._wait_green(60.0)

    def _wait_green(self, timeout: float) -> None:
        deadline = self.tl.now() + timeout
        while self.tl.now() < deadline:
            gevent.sleep(0.25)
            if self.probes.all_green(self.tl.now() - 1.5):
                return
        raise DrillError("the system did not return to steady state after the earlier level")

    # ---- When ---------------------------------------------------------------------------------
    def inject(self, trigger_id: str) -> None:
        self.trigger = self.runbook.trigger(trigger_id)
        self.fault = fault_for(trigger_id)
        t = self.tl.now()
        self.baseline = baseline_latency(self.tl, t, self.cfg.detector)
        inject(self.env.kube, self.fault)
        self.tl.mark("inject", t)

    def corrupt_data(self) -> None:
        """Level 3's situation: the migration damaged rows written before it (real UPDATE in PostgreSQL)."""
        self.trigger = data_corruption_trigger(self.runbook)
        self.fault = Fault("data-corruption", {}, "rows written before the migration are blanked in PostgreSQL")
        t = self.tl.now()
        self.env.datastores.psql("UPDATE statuses SET text = '' WHERE id IN (SELECT id FROM statuses ORDER BY id LIMIT 3)")
        self.tl.mark("inject", t)

    def declare(self, trigger_id: str, who: str) -> None:
        """C4: a person declares the trigger; detection is the declaration."""
        self.trigger = self.runbook.trigger(trigger_id)
        self.fault = fault_for(trigger_id)
        self.decided_by = who
        t = self.tl.now()
        self.tl.mark("inject", t)
        self.tl.mark("detect", t)
        self.detection = Detection(True, t, f"declared by {who}")

    def wait_detection(self, timeout: float | None = None) -> Detection:
        timeout = self.cfg.detection_timeout_s if timeout is None else timeout
        t_inject = self.tl.marks["inject"]
        last = Detection(False, None, "not evaluated")
        while self.tl.now() < t_inject + timeout:
            gevent.sleep(0.1)
            last = check(self.trigger, self.tl, self.tl.now(), t_inject, self.cfg.detector, self.baseline)
            if last.fired:
                self.tl.mark("detect", last.t)
                break
        self.detection = last
        return last

    def decide(self) -> None:
        self.tl.mark("decide")

    def rollback(self, level_no: int) -> None:
        self.level_no = level_no
        level = self.runbook.level(level_no)
        if level_no == 3:
            self._rows_before = {t: self._rows(t) for t in ("statuses", "media_attachments")}
        run_commands(self.ctx, level.commands, level_no)
        self.tl.mark("commands_done")

    def _rows(self, table: str) -> set[str]:
        """Row identities (id and creation time: a restored sequence hands out old ids again)."""
        out = self.env.datastores.psql(f"SELECT id || ':' || extract(epoch FROM created_at) FROM {table}")
        return set(out.split())

    def wait_recovery(self) -> float | None:
        level = self.runbook.level(self.level_no)
        t_decide = self.tl.marks["decide"]
        # Wait past the target (to measure how late a slow rollback is), but never unboundedly.
        limit = min(max(2 * level.target_max_s, level.target_max_s + self.cfg.stability_s + 60),
                    self.cfg.recovery_timeout_s)
        max_ratio = self._max_error_ratio()
        while self.tl.now() < t_decide + limit:
            gevent.sleep(0.5)
            t = recovered_at(self.tl, list(self.probes.names), t_decide, self.cfg.stability_s, max_ratio)
            if t is not None:
                self.recovered = t
                self.tl.mark("recovered", t)
                break
        if self.level_no == 3:
            for table, before in self._rows_before.items():
                after = self._rows(table)
                self.data[f"{table}_before_restore"] = len(before)
                self.data[f"{table}_lost"] = len(before - after)  # written after the backup, gone now
        return self.recovered

    def _max_error_ratio(self) -> float:
        """Recovered means the 5xx ratio is back under the lowest threshold the runbook names."""
        ratios = [t.criterion.threshold for t in self.runbook.triggers if t.criterion.kind == "error_ratio"]
        return min(ratios) if ratios else 0.05

    # ---- Then ---------------------------------------------------------------------------------
    def verify(self) -> list[dict]:
        """手順4 as written (with substitutions), then the 実施後 checklist, each item a real check."""
        step4 = self.runbook.step(4).commands
        records = run_commands(self.ctx, step4, None)
        by_text = {r.text: r for r in records}
        now = self.tl.now()
        since = self.tl.marks.get("recovered", now - self.cfg.stability_s)
        bad = [f"{s.probe} at {s.t:.1f}s: {s.detail}" for s in self.tl.samples if s.t >= since and not s.ok]
        seen = {s.probe for s in self.tl.samples if s.t >= since}
        recent_ok = not bad and seen >= set(self.probes.names)

        def rec_ok(pred) -> tuple[bool, str]:
            for text, r in by_text.items():
                if pred(text):
                    return r.exit_code == 0, f"{text} -> exit {r.exit_code}"
            return False, "command not in 手順4"

        serving = self._serving_stack_ready()
        health_ok, health_ev = rec_ok(lambda t: t.startswith("curl") and "/health" in t)
        if health_ok:
            health_rec = next(r for t, r in by_text.items() if t.startswith("curl") and "/health" in t)
            health_ok = " 200" in health_rec.output.splitlines()[0] if health_rec.output else False
        errlog = next((r for t, r in by_text.items() if "grep -i error" in t), None)
        worker_ok, worker_ev = rec_ok(lambda t: "mastodon-worker" in t)
        results = []
        for item in self.runbook.checklists.get("実施後", []):
            if "正常稼働" in item:
                ok, ev = serving
            elif "ヘルスチェック" in item:
                ok, ev = health_ok, health_ev
            elif "アクセス" in item:
                ok, ev = self._probe_ok("login", now), "login probe (the manual browser sign-in, automated)"
            elif "エラーログ" in item:
                ok = errlog is not None and errlog.output.strip() == ""
                ev = "kubectl logs … | grep -i error: " + ("no error lines" if ok else
                                                           (errlog.output.strip()[:200] if errlog else "not run"))
            elif "バックグラウンドジョブ" in item:
                ok, ev = worker_ok and self._probe_ok("jobs", now), worker_ev + " and jobs probe"
            elif "モニタリング" in item:
                ok = recent_ok
                ev = (f"every probe sample since recovery ({since:.1f}s) green" if ok else
                      f"failing since recovery: {bad[:3]}; probes seen {sorted(seen)}")
            else:
                results.append({"item": item, "ok": None, "evidence": "not automated"})
                continue
            results.append({"item": item, "ok": bool(ok), "evidence": ev})
        self.checklist = results
        return results

    def _probe_ok(self, name: str, now: float) -> bool:
        ss = self.probes.tl.probe_samples(name, now - 2.0)
        return bool(ss) and all(s.ok for s in ss)

    def _serving_stack_ready(self) -> tuple[bool, str]:
        ing = self.env.kube.get_json("ingress", "mastodon")
        backends = sorted({p["backend"]["service"]["name"] for r in ing["spec"]["rules"] for p in r["http"]["paths"]})
        deps = {d["metadata"]["name"]: d for d in self.env.kube.get_json("deployments")["items"]}
        bad = [b for b in backends if (deps.get(b, {}).get("status", {}).get("availableReplicas") or 0) < 1]
        return (not bad, f"Ingress backends {backends}; not available: {bad or 'none'}")

    # ---- results ------------------------------------------------------------------------------
    def stop_traffic(self) -> None:
        if self.probes:
            self.probes.stop()
        if self.load:
            self.load_stats = self.load.stop()

    def close(self) -> None:
        self.stop_traffic()

    def result(self, name: str) -> dict:
        m = self.tl.marks
        level = self.runbook.level(self.level_no) if self.level_no else None
        rec_s = (m["recovered"] - m["decide"]) if "recovered" in m and "decide" in m else None
        det_s = (m["detect"] - m["inject"]) if "detect" in m and "inject" in m else None
        dec_s = (m["decide"] - m["detect"]) if "decide" in m and "detect" in m else None
        t_from = m.get("inject", 0.0)
        t_to = m.get("recovered", self.tl.now())
        failed = sum(b.failures for b in self.tl.window(t_from, t_to))
        total = sum(b.requests for b in self.tl.window(t_from, t_to))
        error_seconds = sum(self.tl.BUCKET for b in self.tl.window(t_from, t_to) if b.failures)
        within = None if (rec_s is None or level is None) else rec_s <= level.target_max_s
        deadline_ok = None if dec_s is None or self.trigger is None else \
            dec_s <= self.trigger.decision_deadline_s + self.cfg.decision_slack_s
        checks_ok = all(c["ok"] is not False for c in self.checklist) if self.checklist else None
        if self.detection is None or not self.detection.fired:
            verdict = "not_detected"
        elif level is not None and rec_s is None:
            verdict = "not_recovered"
        elif within is False:
            verdict = "target_missed"
        elif checks_ok is False:
            verdict = "check_failed"
        else:
            verdict = "passed"
        return {
            "name": name,
            "trigger": None if self.trigger is None else {
                "id": self.trigger.id, "severity": self.trigger.severity, "criterion": self.trigger.criterion.text,
                "kind": self.trigger.criterion.kind, "threshold": self.trigger.criterion.threshold,
                "decision_deadline_s": self.trigger.decision_deadline_s},
            "fault": None if self.fault is None else asdict(self.fault),
            "decided_by": self.decided_by,
            "escalated_from_levels": self.pre_levels,
            "level": None if level is None else {"number": level.number, "title": level.title,
                                                 "target_min_s": level.target_min_s, "target_max_s": level.target_max_s},
            "detection": None if self.detection is None else asdict(self.detection),
            "baseline_latency_ms": None if self.baseline is None else round(self.baseline * 1000, 1),
            "durations": {"detection_latency_s": _r(det_s), "decision_s": _r(dec_s), "recovery_s": _r(rec_s),
                          "within_target": within, "decision_within_deadline": deadline_ok},
            "outage": {"failed_requests": failed, "requests": total, "error_seconds": error_seconds},
            "data": self.data,
            "checklist": self.checklist,
            "findings": [f.to_dict() for f in (self.ctx.findings if self.ctx else [])],
            "substitutions": sorted({c.substitution for c in self.tl.commands if c.substitution}),
            "load": self.load_stats,
            "timeline": self.tl.to_dict(),
            "verdict": verdict,
        }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)
