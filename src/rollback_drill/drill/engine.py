"""One drill: migrated state -> load -> fault -> detect -> decide -> rollback -> recovered -> checks.

The steps of a Gherkin scenario and `rollback-drill run` call the same methods, in the same
order, so a scenario reads like the drill and the CLI runs the very same engine.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace

from rollback_drill.observe import load as _load  # noqa: F401 - locust patches gevent before anything else
import gevent

from typing import Callable

from rollback_drill.cluster import Cluster, ClusterError
from rollback_drill.cluster.kube import current_context
from rollback_drill.settings import first_line
from rollback_drill.drill.plan import metric_spec
from rollback_drill.drill.recovery import Recovery, RecoveryCheck
from rollback_drill.drill.result import result
from rollback_drill.drill.verify import verify
from rollback_drill.evidence.redaction import Redactor
from rollback_drill.observe.cluster_state import ClusterState, ComponentWatch, RestoreTarget
from rollback_drill.observe.detectors import Detection, DetectorConfig, baseline_latency, check
from rollback_drill.observe.load import Load, LoadConfig
from rollback_drill.observe.probes import Probes, Target
from rollback_drill.observe.timeline import Timeline
from kubernetes.client.rest import ApiException

from rollback_drill.runbook.analysis import (Finding, LiveState, alternatives, applicable_findings, check_objects,
                                             durations, no_namespace, removes_serving, scope_listing,
                                             switches_traffic, wait_pod_selector, wait_race)
from rollback_drill.runbook.executor import WATCH_INTERVAL_S, ExecContext, run_commands
from rollback_drill.runbook.model import Command, Criterion, Runbook, Trigger
from rollback_drill.sut.deploy import PRE_MIGRATION_VERSION, Environment
from rollback_drill.sut.changes import ChangeLog
from rollback_drill.sut.datastores import Datastores
from rollback_drill.sut.emulation import Emulation
from rollback_drill.sut.faults import Fault, fault_for, inject
from rollback_drill.sut.mistakes import proven_mistake
from rollback_drill.sut.profile import Profile, load_profile
from rollback_drill.sut.system import StubOnDrillCluster, SystemUnderTest
from rollback_drill.observe.k8s_watch import K8sWatch
from rollback_drill.sut.cloudsql import abandon_restores

SERVING_WINDOW_S = 2.0  # answers this recent tell which stack users are being served by when a command runs
LATE_RECORD_S = 1.0  # an observation is in the timeline this long after its instant (a probe's answer, a sample)
SETTLED_LOOK_S = 2.0  # how often the recovery wait looks whether nothing left could bring recovery (twice = settled)



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
    # a configuration mistake reaches users only through the rollout it starts: with the official chart's
    # probes (startup from 15 s every 5 s, readiness every 10 s) a new web pod is Ready 15-30 s after the
    # upgrade, so its detection is given this much more
    rollout_allowance_s: float = 45.0
    recovery_timeout_s: float = 600.0  # never wait longer than this, even for Level 3's 2 h
    decision_slack_s: float = 1.0  # "即座" still allows the harness this long to start the rollback
    decision_delay_s: float = 0.0  # the automatic decider's think time (a late person, in a drill)
    check_retry_budget_s: float = 120.0  # how long a failing `kubectl wait/exec` check is retried
    monitor_s: float = 1.0  # 手順5's window after verification (the runbook asks >= 30 min: nightly, --monitor)
    status_command_timeout_s: float = 10.0  # a 手順1/手順5 command that has not answered by then is ended
    profile: Profile = field(default_factory=lambda: load_profile("local"))  # the latencies the cluster is given
    db_size_gb: float | None = None  # production database size for the modelled restore (None: the profile's)
    fault_style: str = "switch"  # switch (the stub's fault switches) | config (a configuration mistake, helm upgrade)
    ca_bundle: str = ""  # PEM file of a staging CA that load and probes trust (TLS is always verified)
    runs_status_step: bool = True  # 手順1 at detection by the harness (a game day leaves it to the person)

    def emulated_s(self, restore: bool = True) -> float:
        """The longest the profile can add to bringing a stack back (boot, pull, the load balancer's health
        check, propagation — its 502 window lies inside it —, and with `restore` the database restore)."""
        p = self.profile
        if not p.emulates:
            return 0.0
        return (max(p["web_boot"], p["streaming_boot"], p["sidekiq_boot"]) + p["image_pull"] + p["neg_ready"]
                + p["ingress_propagation"]
                + (p["cloudsql_pending"] + p.restore_s(self.db_size_gb) if restore else 0.0))

    def to_dict(self) -> dict:
        return {"detector": self.detector.to_dict(), "load": asdict(self.load),
                "probe_interval_s": self.probe_interval_s, "stability_s": self.stability_s,
                "detection_timeout_s": self.detection_timeout_s, "rollout_allowance_s": self.rollout_allowance_s,
                "recovery_timeout_s": self.recovery_timeout_s,
                "decision_slack_s": self.decision_slack_s, "decision_delay_s": self.decision_delay_s,
                "check_retry_budget_s": self.check_retry_budget_s, "monitor_s": self.monitor_s,
                "status_command_timeout_s": self.status_command_timeout_s, "profile": self.profile.name,
                "fault_style": self.fault_style, "ca_bundle": self.ca_bundle,
                "db_size_gb": self.db_size_gb}


def recovery_limit_s(target_max_s: float, cfg: DrillConfig, restore: bool) -> float:
    """How long a drill waits for recovery after the decision: 2 x the level's target (at least the target
    + the stability window + 60 s), so a late rollback is measured, not cut — plus what the profile adds
    (a gke drill whose propagation was drawn at 225 s recovers near 300 s: late, and how late is measured,
    not called not_recovered at 240 s); never beyond the configured recovery timeout."""
    base = max(2 * target_max_s, target_max_s + cfg.stability_s + 60)
    return min(base + cfg.emulated_s(restore=restore), cfg.recovery_timeout_s)

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
    def __init__(self, cluster: Cluster, runbook: Runbook, config: DrillConfig | None = None,
                 sut: SystemUnderTest | None = None) -> None:
        """`sut`: what the drill drills on (sut/system.py; default: the stub on the drill cluster, reset
        to the just-migrated state — the harness owns that cluster)."""
        self.cluster, self.runbook = cluster, runbook
        self.sut = sut or StubOnDrillCluster(cluster)
        self.changes = ChangeLog()
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
        self.state: ClusterState | None = None
        self.watch: ComponentWatch | None = None
        self._snapshot: dict = {}  # the pre-migration state the level is judged against (read once, at expect_level)
        self.target: RestoreTarget | None = None
        self.recovery: Recovery | None = None
        self.phase = "not started"
        self.plan = None  # the DrillPlan being run (drill/pipeline.py sets it; saved in the result)
        self._assessing: gevent.Greenlet | None = None
        self._ran: dict[str, list[Command]] = {}  # step -> its commands run so far (what a wait follows)
        self._level_pods: dict[str, set[str]] = {}  # step -> pod UIDs in the namespace when the level began
        self._switch_lines: dict[str, set[int]] = {}  # step -> lines of its commands that switched traffic
        self._serving_at_start: dict[str, set[str]] = {}  # step -> Deployments the Ingress routed to when it began
        self._status_state: LiveState | None = None  # the cluster at detection: what 手順1 (status) is judged on
        self._status_label = ""
        self.emulation: Emulation | None = None
        self.k8s: K8sWatch | None = None

    @property
    def app(self):
        """Where the drilled application lives and what its parts are called (sut/application.py)."""
        return self.env.app

    # ---- Given --------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Deploy the just-migrated state anew and get the executor ready."""
        self.phase = "deploy"
        self.env = self.sut.provision(self.changes)
        self.redactor = Redactor(self.env.secret_values())
        self.read_secrets()
        backups = self.env.datastores.list_backups() if self.env.datastores is not None else []
        pre = next((b["id"] for b in backups if b.get("description") == "pre-helm-migration"), None)
        on_team_context = self.cluster.name == "existing"
        try:
            pod_host = self.cluster.pod_host_address
        except ClusterError:
            pod_host = ""  # no datastores outside the cluster (the gcloud stand-in has nothing to reach)
        self.ctx = ExecContext.create(self.env.workdir, self.env.kube.env(), self.tl, self.redactor,
                                      self.runbook.production_host or self.app.host, self.env.ingress_url, pod_host, pre,
                                      self.env.snapshot_dir, standin=not on_team_context)
        self.ctx.context = current_context(self.env.kube.kubeconfig)
        self.ctx.namespace, self.ctx.served_host = self.app.namespace, self.app.host
        self.ctx.retry_budget_s = self.cfg.check_retry_budget_s
        self.state = ClusterState(self.env.kube)
        self.ctx.before = self._look_before
        if not on_team_context:  # on a team's cluster a controller of theirs (GitOps) might still act
            self.ctx.futile = self._futile_wait
        prof = self.cfg.profile
        if prof.emulates:
            self.ctx.env["ROLLBACK_DRILL_CLOUDSQL_PENDING_S"] = f"{prof['cloudsql_pending']:g}"
            self.ctx.env["ROLLBACK_DRILL_CLOUDSQL_RESTORE_S"] = f"{prof.restore_s(self.cfg.db_size_gb):g}"
            self.cfg.recovery_timeout_s += self.cfg.emulated_s()
        self.k8s = K8sWatch(self.state, self.tl)
        self.k8s.start()
        self.phase = "fidelity emulation"
        self.emulation = Emulation(prof, self.state, self.tl, self.app.ingress, self.changes, node=self.cluster)
        self.emulation.start()
        target = Target(self.env.ingress_url, self.app.host, self.env.probe_user, self.env.creds.seed_password,
                        *self.env.probe_client, own_ingress=not on_team_context,
                        ca_bundle=self.cfg.ca_bundle)
        # the data probe reads a status the stub wrote before the migration; a team's release has none
        self.probes = (DataProbes if self.env.is_stub else Probes)(target, self.tl, self.cfg.probe_interval_s)
        self.load = Load(target, self.tl, self.cfg.load)

    def start_traffic(self) -> None:
        """Load and probes on; wait until the system is in steady state (all probes green)."""
        self.phase = "steady_state"
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
        self._wait_green(60.0 + self.cfg.emulated_s())

    def _wait_green(self, timeout: float) -> None:
        deadline = self.tl.now() + timeout
        while self.tl.now() < deadline:
            gevent.sleep(0.25)
            if self.probes.all_green(self.tl.now() - 1.5):
                return
        raise DrillError("the system did not return to steady state after the earlier level")

    # ---- When ---------------------------------------------------------------------------------
    def inject(self, trigger_id: str, scale: float = 1.0) -> None:
        """The fault the criterion's meaning calls for, sized from its threshold (and, for latency,
        the baseline measured just now); `scale` < 1 sizes it below the threshold on purpose."""
        self.phase = "detection"
        self.trigger = self.runbook.trigger(trigger_id)
        self.baseline = baseline_latency(self.tl, self.tl.now(), self.cfg.detector)
        self.fault = fault_for(self.trigger.criterion, self.baseline, scale, self.cfg.detector.performance_factor,
                               self.cfg.fault_style, self.runbook.sidecar.get("config_faults"))
        if self.fault.values is not None:  # a configuration mistake: the team's values edited, proven to matter
            self.fault = proven_mistake(self.env.kube, self.app, self.env.chart, self.fault)
            if not self.env.is_stub:  # a team's release: its values are put back
                self._record_release_values()
        t = self.tl.now()
        inject(self.env.kube, self.fault, self.app, self.env.chart)
        self.tl.mark("inject", t)

    def _record_release_values(self) -> None:
        """Before a configuration mistake on a team's release: the revision to go back to."""
        from rollback_drill.sut.existing import carry_out
        kube, release = self.env.kube, self.app.release
        revision = kube.helm_release_revision(release)
        before = kube.helm_release_values(release)
        spec = {"kind": "helm_rollback", "release": release, "revision": revision, "namespace": self.app.namespace}

        def undo() -> str:
            if kube.helm_release_values(release) == before:
                return f"release {release}: values already as found (revision {revision})"
            return carry_out(kube, spec)
        self.changes.record(f"helm upgrade {release} --reuse-values: {', '.join(self.fault.values)} "
                            f"({self.fault.description})", undo, spec)

    def put_back(self) -> list[str]:
        """Everything the harness changed on a cluster it does not own, back as found (idempotent)."""
        return self.changes.revert()

    def corrupt_data(self) -> None:
        """Level 3's situation: the migration damaged rows written before it (real UPDATE in PostgreSQL)."""
        self.phase = "detection"
        self.trigger = data_corruption_trigger(self.runbook)
        self.fault = Fault("data-corruption", {}, "rows written before the migration are blanked in PostgreSQL")
        t = self.tl.now()
        self.env.datastores.psql("UPDATE statuses SET text = '' WHERE id IN (SELECT id FROM statuses ORDER BY id LIMIT 3)")
        self.tl.mark("inject", t)

    def declare(self, trigger_id: str, who: str) -> None:
        """C4: a person declares the trigger; detection is the declaration."""
        self.phase = "decision"
        self.trigger = self.runbook.trigger(trigger_id)
        self.fault = fault_for(self.trigger.criterion)
        self.decided_by = who
        t = self.tl.now()
        self.tl.mark("inject", t)
        self.tl.mark("detect", t)
        self.detection = Detection(True, t, f"declared by {who}")
        self.assess()

    def wait_detection(self, timeout: float | None = None) -> Detection:
        if timeout is None:
            rollout = self.fault is not None and self.fault.values is not None
            timeout = self.cfg.detection_timeout_s + (self.cfg.rollout_allowance_s if rollout else 0.0)
        t_inject = self.tl.marks["inject"]
        last = Detection(False, None, "not evaluated")
        while self.tl.now() < t_inject + timeout:
            gevent.sleep(0.1)
            last = check(metric_spec(self.trigger.criterion), self.tl, self.tl.now(), t_inject, self.cfg.detector,
                         self.baseline)
            if last.fired:
                self.tl.mark("detect", last.t)
                break
        self.detection = last
        if last.fired:
            self.assess()
        return last

    def assess(self) -> None:
        """手順1 (status) as written, at detection, against the state the operator finds (the migrated
        state under the fault). Its output goes to the journal; a command that fails is a finding.
        The rollback does not wait for it (即座 means now, and the drill measures the decision, not
        the reading): it runs in parallel, each command bounded by `status_command_timeout_s`
        (`kubectl exec/logs` of a Deployment with no pod otherwise wait 20-60 s), and what each
        command saw is in the journal with the state just before it (runbook/analysis.py)."""
        step = self.runbook.step_meaning("status")
        if step is None or self._assessing is not None or not self.cfg.runs_status_step:
            return
        label = f"手順{step.number} (status)"
        # 手順1 is judged on the state the operator finds at detection, read once now: it runs beside the
        # rollback, whose first commands change what a status command would see a second later (a
        # finding must not depend on how far the rollback got).
        self._status_label = label
        try:
            self._status_state = LiveState.read(self.state, self.app.ingress)
        except ApiException:
            self._status_state = None

        def run() -> None:
            self.ctx.findings += no_namespace(step.commands, self.app.namespace, label)
            run_commands(self.ctx, step.commands, None, label, retry_checks=False,
                         timeout=self.cfg.status_command_timeout_s)
            self._fold_explained_failures(step.commands, label)

        self._assessing = gevent.spawn(run)

    def _fold_explained_failures(self, commands: tuple[Command, ...], label: str) -> None:
        """A status command that looks at an object the detection-time state already lacks (its
        missing_object finding) fails or not depending on how far the rollback beside it has got: the
        defect is the one missing_object names, so the run's own failure is folded into it (said in its
        `observed`, the output in the journal) instead of a second finding that comes and goes."""
        lines = {c.line for c in commands}
        missing = {f.line: f for f in self.ctx.findings if f.step == label and f.kind == "missing_object"}
        kept = []
        for f in self.ctx.findings:
            if f.kind == "failed" and f.line in lines and f.line in missing:
                m = missing[f.line]
                m.observed = (m.observed + "; " if m.observed else "") + "as run beside the rollback: " + f.problem
                continue
            kept.append(f)
        self.ctx.findings[:] = kept

    def monitor(self) -> None:
        """手順5 (monitoring) for the configured window: its commands (a `watch` runs a bounded number
        of times) while load and probes go on; the checklist's monitoring item covers the window."""
        step = self.runbook.step_meaning("monitor")
        t0 = self.tl.now()
        if step is not None:
            times = max(1, int(self.cfg.monitor_s // WATCH_INTERVAL_S))
            run_commands(self.ctx, step.commands, None, f"手順{step.number} (monitor)", retry_checks=False,
                         watch_times=times, timeout=self.cfg.status_command_timeout_s)
        rest = self.cfg.monitor_s - (self.tl.now() - t0)
        if rest > 0:
            gevent.sleep(rest)
        self.tl.mark("monitored")

    def decide(self) -> None:
        """The automatic decider: it decides at detection plus its configured think time, and that
        instant is t_decide.

        What the harness does between that decision and the first rollback command — reading the state
        手順1 is judged on, counting Level 3's rows, starting the recovery watch — is the harness's own
        work, not the decider's: its length follows the machine's load (0.2-0.8 s for Level 3 here, over
        1 s with three drills side by side), and a verdict must not. It is measured all the same
        (`durations.start_s`, t_decide → first command) and lies inside the recovery time, which starts
        at t_decide. A person's decision (game day) is their first rollback command, measured.
        """
        self.phase = "decision"
        t_decide = self.tl.marks.get("detect", self.tl.now()) + self.cfg.decision_delay_s
        gevent.sleep(max(0.0, t_decide - self.tl.now()))
        if "decide" not in self.tl.marks:  # a second attempt does not move the decision
            self.tl.mark("decide", t_decide)

    def expect_level(self, level_no: int) -> None:
        """What the recovery is judged against once the level is carried out — its RestoreTarget, the
        rows Level 3 will lose, the watch on the restored components — without running anything: the
        automatic rollback continues with the commands, a game day leaves them to a person."""
        self.level_no = level_no
        level = self.runbook.level(level_no)
        self.target = RestoreTarget(self.app.old_stack, full_state=level.full_state, database=level.database)
        if level_no == 3:
            self._rows_before = {t: self._rows(t) for t in ("statuses", "media_attachments")}
        if self.watch is None:
            self._watch_restored()

    def rollback(self, level_no: int, commands: tuple[Command, ...] | None = None) -> None:
        """Run the level's commands (or a mutant's). Without a decider before it (`decide`), t_decide is
        the moment the rollback was called."""
        self.phase = "rollback_commands"
        self.expect_level(level_no)
        level = self.runbook.level(level_no)
        if "decide" not in self.tl.marks:  # a second attempt does not move the decision
            self.tl.mark("decide")
        if self.plan is not None and self.plan.recovery_limit_s is not None:  # a mutation drill's limit
            self.ctx.retry_until = self.tl.marks["decide"] + self.plan.recovery_limit_s - self.cfg.stability_s
        self.recovered, self.recovery = None, None
        self.tl.marks.pop("recovered", None)
        cmds = level.commands if commands is None else commands
        step = f"Level {level_no}"
        self._ran[step] = []
        self._level_pods[step] = {p.metadata.uid for p in self.state.core.list_namespaced_pod(self.app.namespace).items}
        self._analyse_level(level, cmds, step)
        records = run_commands(self.ctx, cmds, level_no)
        self.ctx.findings += durations(cmds, records, f"Level {level_no}")
        self.tl.mark("commands_done")

    def _look_before(self, cmd: Command, step: str) -> None:
        """The cluster just before a runbook command: the findings only the live state shows."""
        try:
            frozen = step == self._status_label and self._status_state is not None
            live = self._status_state if frozen else LiveState.read(self.state, self.app.ingress)
            looks = step.startswith("手順") or bool(re.match(r"^\s*kubectl\s+(get|logs|describe|exec|top)\b",
                                                            cmd.text))
            self.ctx.findings += check_objects(cmd, live, step, looks_only=looks)
            self.ctx.findings += scope_listing(cmd, live, self.app.deployments, step)
            self.ctx.findings += wait_race(cmd, self.state, step, tuple(self._ran.get(step, ())),
                                           self._level_pods.get(step))
            self.ctx.findings += removes_serving(cmd, live, *self._serving_since_last_command(step), step,
                                                 self._serving_at_start.get(step), tuple(self._ran.get(step, ())),
                                                 self._switch_lines.get(step))
        except ApiException as e:  # the analysis must not stop the drill; the gap is said
            self.ctx.findings.append(Finding(cmd.line, cmd.text, "not analysed: the cluster could not be read",
                                             "see the harness log", "not_checked", "low", str(e)[:200], step))
        self._ran.setdefault(step, []).append(cmd)
        if switches_traffic(cmd, self.env.workdir):  # read its file once, here
            self._switch_lines.setdefault(step, set()).add(cmd.line)

    def _futile_wait(self, cmd: Command) -> str:
        """Why a failing `kubectl wait … pod -l K=V[,…]` cannot pass by waiting ('' when it might): no pod
        matches and no Deployment whose pods would match wants a replica. While the executor retries the
        check, no runbook command runs: only controllers act, and none creates pods for such a selector."""
        sel = wait_pod_selector(cmd.text)
        if sel is None:
            return ""
        sel = sel.strip("'\"")
        pairs = [p.partition("=") for p in sel.split(",")]
        if not pairs or any(not k or sep != "=" or v.startswith("=") or "!" in k for k, sep, v in pairs):
            return ""  # a set-based selector: not judged
        want = {k: v for k, _, v in pairs}
        try:
            ns = self.app.namespace
            pods = self.state.kube.get_raw(f"/api/v1/namespaces/{ns}/pods", labelSelector=sel)
            if pods["items"]:
                return ""
            for d in self.state.kube.get_raw(f"/apis/apps/v1/namespaces/{ns}/deployments")["items"]:
                labels = ((d["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
                if all(labels.get(k) == v for k, v in want.items()) and d["spec"].get("replicas", 1) != 0:
                    return ""
        except ApiException:
            return ""
        return f"no pod matches {sel} and no Deployment that would create one wants a replica"

    def _serving_since_last_command(self, step: str) -> tuple[dict[str, int], float]:
        """Which pods answered the probes' requests sent since the step's last traffic switch (an
        Ingress apply), else since its previous command, at most the last SERVING_WINDOW_S: who serves
        users now, after whatever was switched."""
        now = self.tl.now()
        since = now - SERVING_WINDOW_S
        records = [r for r in self.tl.commands if r.step == step or (r.level is not None and f"Level {r.level}" == step)]
        switched = [r for r in records if r.line in self._switch_lines.get(step, set())]
        mark = switched[-1] if switched else (records[-1] if records else None)
        if mark is not None:
            since = max(since, mark.end)
        answers: dict[str, int] = {}
        for smp in self.tl.samples:
            if smp.served_by and smp.t_start is not None and smp.t_start >= since and smp.t <= now:
                answers[smp.served_by] = answers.get(smp.served_by, 0) + 1
        return answers, round(now - since, 1)

    def _analyse_level(self, level, commands: tuple[Command, ...], step: str) -> None:
        lv = replace(level, commands=commands)
        live = LiveState.read(self.state, self.app.ingress)
        self._serving_at_start[step] = set(live.serving)
        self.ctx.findings += applicable_findings(lv, self.env.workdir, step, self.runbook.text)
        self.ctx.findings += no_namespace(commands, self.app.namespace, step)
        self.ctx.findings += alternatives(commands, live, step, {self.app.release})

    def _watch_restored(self) -> None:
        self._snapshot = snapshot = self.env.premigration()
        target = self.target

        def schema_ok() -> tuple[bool, str]:
            try:
                v = self.env.datastores.psql("SELECT max(version::bigint) FROM schema_migrations").strip()
            except Exception as e:  # noqa: BLE001 - mid-restore the database may be empty or gone
                return False, f"schema not readable: {str(e).strip().splitlines()[-1][:160] if str(e).strip() else e}"
            return v == PRE_MIGRATION_VERSION, f"schema version {v} (pre-migration {PRE_MIGRATION_VERSION})"

        self.watch = ComponentWatch(self.tl, lambda: self.state.restored(target, snapshot, self.app.release, schema_ok),
                                    self.cfg.probe_interval_s)
        self.watch.start()

    def _rows(self, table: str) -> set[str]:
        """Row identities (id and creation time: a restored sequence hands out old ids again)."""
        out = self.env.datastores.psql(f"SELECT id || ':' || extract(epoch FROM created_at) FROM {table}")
        return set(out.split())

    def recovery_check(self) -> RecoveryCheck:
        return RecoveryCheck(self.tl, self.trigger, tuple(self.probes.names), self.cfg.detector, self.baseline,
                             self.cfg.stability_s, self._max_error_ratio(),
                             self.state.serves_restored(self.target.stack))

    def wait_recovery(self, limit_s: float | None = None, since: float | None = None,
                      stop: Callable[[], bool] | None = None) -> float | None:
        """Wait until the four recovery conditions hold for the stability window (drill/recovery.py).

        Waits past the target (to measure how late a slow rollback is), but never unboundedly:
        `limit_s` (mutation runs) or the configured recovery timeout caps it. A game day judges from
        the alert (`since`; its decision is known only afterwards) and ends early when `stop()` says
        the operator has left.

        It also ends when no recovery can come any more: the level's commands are done, the cluster is
        the harness's own (no one else acts on it: on a team's context a GitOps controller might), and
        twice in a row, 2 s apart, something the level must bring back is settled — a Deployment absent
        or wanting 0 replicas, the Ingress pointing elsewhere, the Helm release still there
        (ClusterState.settled_gaps). Waiting longer would only repeat that; the verdict is the same
        `not_recovered`, and the journal says why in `recovery.settled`.
        """
        self.phase = "recovery_wait"
        level = self.runbook.level(self.level_no)
        t_decide = self.tl.marks["decide"] if since is None else since
        limit = recovery_limit_s(level.target_max_s, self.cfg, self.target is None or self.target.database)
        if limit_s is not None:
            limit = min(limit, limit_s)
        # the recovery window must start by then to be complete within the limit: once it has passed (and
        # every observation of before it is recorded) and some condition has not held continuously since
        # before it, no later moment can make the drill pass
        latest_start = t_decide + limit - self.cfg.stability_s
        check_ = self.recovery_check()
        may_settle = stop is None and since is None and "commands_done" in self.tl.marks and \
            self.cluster.name != "existing"
        settled: list[str] | None = None
        next_look = self.tl.now()
        while True:
            gevent.sleep(0.5)
            now = self.tl.now()
            self.recovery = check_.evaluate(t_decide, now)
            if self.recovery.t_recovered is not None:
                self.recovered = self.recovery.t_recovered
                self.tl.mark("recovered", self.recovered)
                break
            if now >= t_decide + limit or (stop is not None and stop()):
                break
            if now >= latest_start + LATE_RECORD_S and not self.recovery.may_start_by(latest_start):
                break
            if may_settle and now >= next_look:
                next_look = now + SETTLED_LOOK_S
                gaps = self.state.settled_gaps(self.target, self._snapshot, self.app.release)
                if gaps and gaps == settled:
                    self.recovery.settled = (f"the level's commands were done and nothing left would bring back: "
                                             f"{'; '.join(gaps)}")
                    break
                settled = gaps
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
        """手順4 as written, then the 実施後 checklist, each item a real check (drill/verify.py)."""
        self.phase = "verification"
        self.checklist = verify(self)
        return self.checklist

    # ---- results ------------------------------------------------------------------------------
    def stop_traffic(self) -> None:
        if self.probes:
            self.probes.stop()
        if self.load:
            self.load_stats = self.load.stop()

    def abort(self) -> None:
        """Stop at once (an interruption): probes, load and the watch end without finishing a request."""
        if self.probes:
            self.probes.stop_event.set()
            gevent.killall(self.probes.greenlets, block=False)
        if self.watch is not None:
            self.watch.stop_event.set()
            if self.watch.greenlet is not None:
                self.watch.greenlet.kill(block=False)
        if isinstance(self._assessing, gevent.Greenlet):
            self._assessing.kill(block=False)
        if self.load:
            self.load_stats = self.load.stop()

    def end_emulation(self) -> None:
        """Put back what the fidelity emulation changed (idempotent; the journal lists it)."""
        if self.env is not None and isinstance(self.env.datastores, Datastores):  # the stand-in's operations
            abandoned = abandon_restores(self.env.datastores)
            if abandoned and self.emulation is not None:
                self.emulation.also_reverted += [f"Cloud SQL stand-in operation {n} abandoned" for n in abandoned]
        if self.emulation is not None and not self.emulation.stopped:
            self.emulation.stop()
        if self.k8s is not None:
            self.k8s.stop()

    def close(self) -> None:
        """Stop everything and put back what the harness changed. Each part runs even if an earlier
        one failed; the first failure is raised at the end (the caller says it in one line)."""
        if isinstance(self._assessing, gevent.Greenlet) and not self._assessing.dead:
            self._assessing.join(timeout=0.2)  # what did not run by now is not in the journal
            self._assessing.kill(block=True, timeout=5)
        failed: list[Exception] = []
        for part in (self.stop_traffic, lambda: self.watch is not None and self.watch.stop(), self.end_emulation,
                     self.put_back):
            try:
                part()
            except Exception as e:  # noqa: BLE001 - the rest must still run
                failed.append(e)
        if failed:
            raise failed[0]

    def read_secrets(self) -> None:
        """The namespace's Secret values join the redaction (again before the result: the runbook's
        commands may have created Secrets of their own)."""
        try:
            self.redactor.add(self.env.kube.secret_values())
        except Exception as e:  # noqa: BLE001 - an unreadable Secret list must not pass silently
            raise DrillError(f"cannot read the namespace's Secrets to redact them from the evidence: "
                             f"{first_line(e)}") from None

    def result(self, name: str, interrupted: bool = False) -> dict:
        """Everything the evidence says about this drill (drill/result.py)."""
        if self.env is not None and not interrupted:
            self.read_secrets()
        return result(self, name, interrupted)
