"""The `rollback-drill` console script: cluster, deploy, runbook, run.

Exit codes (the same for every command, so CI can tell them apart):
  0 all passed · 1 a target missed · 2 bad input/usage · 3 a runbook finding · 4 the harness failed
"""

from __future__ import annotations

import json
import os
import sys
import time

import click

from rollback_drill import DEFAULT_RUNBOOK

EXIT_OK, EXIT_TARGET_MISSED, EXIT_USAGE, EXIT_FINDING, EXIT_HARNESS = 0, 1, 2, 3, 4


def _fail(msg: str, code: int = EXIT_USAGE) -> None:
    click.echo(f"rollback-drill: {msg}", err=True)
    sys.exit(code)


class OneLineErrors(click.Group):
    """Bad options and arguments (click's usage errors) as one line, exit 2, like every other refusal."""

    def main(self, *args, **kwargs):
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as e:
            where = f"rollback-drill {e.ctx.command_path.split(' ', 1)[1]}" if e.ctx and " " in e.ctx.command_path \
                else "rollback-drill"
            click.echo(f"rollback-drill: {e.format_message()} (see '{where} --help')", err=True)
            sys.exit(EXIT_USAGE)
        except click.Abort:  # Ctrl-C outside a drill (a drill handles its own signals)
            click.echo("rollback-drill: interrupted", err=True)
            sys.exit(EXIT_HARNESS)


@click.group(cls=OneLineErrors)
def main() -> None:
    """Rehearse the Mastodon Helm -> Kustomize rollback runbook on a real Kubernetes cluster."""
    from rollback_drill.settings import LaneError, lane
    try:
        lane()  # checked where it enters: every path and name of a lane is built from it
    except LaneError as e:
        _fail(str(e))


# ---- runbook -------------------------------------------------------------------------------
@main.command("runbook")
@click.argument("path", default=str(DEFAULT_RUNBOOK))
@click.option("--json", "as_json", is_flag=True, help="print the reading as JSON")
@click.option("--explain", is_flag=True, help="per field, the line and the words that decided it")
@click.option("--diff", "other", metavar="OTHER", default=None,
              help="list the fields of the reading that differ from OTHER (the runbook before the edit: a "
                   "Markdown file, or a drill journal that recorded its reading); exit 0 either way")
def runbook_cmd(path: str, as_json: bool, explain: bool, other: str | None) -> None:
    """How the runbook was read: criteria (kind, threshold, deadline, fault, detector), levels
    (target, what they restore — from their commands —, commands and what each touches, prompts and
    pasted output removed), and what disagrees (a level's title against its commands). Exit 2 if it
    cannot be read. With --diff OTHER: what an edit changed, matched by meaning (criteria by severity
    and kind, levels and steps by number), never by line."""
    from rollback_drill.drill.plan import reading, table
    from rollback_drill.runbook.model import RunbookError, load_runbook
    try:
        rb = load_runbook(path)
    except RunbookError as e:
        _fail(f"runbook does not parse: {e}")
    r = reading(rb)
    if other is not None:
        from rollback_drill.runbook import diff as D
        try:
            before = D.other_reading(other, reading)
        except RunbookError as e:
            _fail(f"--diff: {e}")
        changes = D.diff_readings(before, r)
        if as_json:
            click.echo(json.dumps({"old": before["path"], "new": r["path"],
                                   "changes": [c.__dict__ for c in changes]}, ensure_ascii=False, indent=2))
        else:
            click.echo(D.report(before, r, changes))
        return
    if as_json:
        click.echo(json.dumps(r, ensure_ascii=False, indent=2))
        return
    click.echo(table(r))
    if explain:
        click.echo(_explain(rb))
    for w in rb.warnings:
        click.echo(f"warning: {w}")


def _explain(rb) -> str:
    """Each field of the reading with the line and the words that decided it."""
    out = ["", "how each field was decided (line: words -> reading):"]
    for t in rb.triggers:
        c = t.criterion
        what = c.kind if c.threshold is None else f"{c.kind} {c.comparator} {c.threshold:g} {c.unit}".rstrip()
        out.append(f"  {c.line:>4}: {c.text!r} -> {t.id} {t.severity}, decide within {t.decision_deadline_s:g}s, "
                   f"{what}" + (f" (declared in {c.declared_in})" if c.declared_in else ""))
    for lv in rb.levels:
        out.append(f"  {lv.line:>4}: Level {lv.number} {lv.title!r} -> target {lv.target_min_s:g}-{lv.target_max_s:g}s; "
                   f"restores {lv.restores}")
        for e in lv.restores_evidence:
            out.append(f"        {e}")
        for cmd in lv.commands:
            for rw in cmd.rewrites:
                out.append(f"        {rw} (command of line {cmd.line})")
    for st in rb.steps:
        out.append(f"  {st.line:>4}: step {st.number} {st.title!r} -> {len(st.commands)} commands")
    return "\n".join(out)


# ---- cluster -------------------------------------------------------------------------------
@main.group()
def cluster() -> None:
    """Bring the drill cluster up, show it, tear it down."""


def _cluster(provider: str | None, context: str | None = None):
    """The provider, made to remove the drill's datastores whenever it goes down."""
    from rollback_drill.cluster import ClusterError, get_cluster
    from rollback_drill.sut.datastores import removed_with
    try:
        return removed_with(get_cluster(provider, context))
    except ClusterError as e:
        _fail(str(e))


@cluster.command("up")
@click.option("--provider", type=str, envvar="ROLLBACK_DRILL_PROVIDER", default=None,
              help="local | kind | existing (default: local)")
@click.option("--context", default=None, help="kubeconfig context (existing provider)")
def cluster_up(provider: str | None, context: str | None) -> None:
    """Create the cluster (idempotent) and wait for node Ready and the Ingress."""
    from rollback_drill.cluster import ClusterError
    c = _cluster(provider or "local", context)
    try:
        st = c.up()
    except ClusterError as e:
        _fail(f"cluster up failed: {e}", EXIT_HARNESS)
    except KeyboardInterrupt:
        _fail("interrupted: everything started was stopped again", EXIT_HARNESS)
    click.echo(f"cluster {st.provider} ready: kubeconfig={st.kubeconfig} ingress={st.ingress_url} "
               f"kubernetes={st.kubernetes_version}")


@cluster.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.option("--provider", default=None)
def cluster_status(as_json: bool, provider: str | None) -> None:
    """Show the cluster: provider, kubeconfig, Kubernetes version, Ingress URL, components."""
    st = _cluster(provider).status()
    if as_json:
        click.echo(st.to_json())
    else:
        click.echo(f"provider={st.provider} ready={st.ready} kubernetes={st.kubernetes_version}\n"
                   f"kubeconfig={st.kubeconfig}\ningress={st.ingress_url}")
        for k, v in st.components.items():
            click.echo(f"  {k:24} {v}")
    sys.exit(EXIT_OK if st.ready else EXIT_HARNESS)


@cluster.command("down")
@click.option("--provider", default=None)
def cluster_down(provider: str | None) -> None:
    """Stop everything of ours: processes, mounts, netns, iptables rules, bridge."""
    _cluster(provider).down()
    click.echo("cluster down")


# ---- deploy --------------------------------------------------------------------------------
@main.command("deploy")
@click.option("--reset", is_flag=True, help="remove the deployment and data first, then deploy anew")
@click.option("--provider", default=None)
def deploy_cmd(reset: bool, provider: str | None) -> None:
    """Deploy the stub Mastodon in the just-migrated state on the drill cluster (idempotent)."""
    from rollback_drill.sut.deploy import as_json, deploy
    c = _cluster(provider)
    if not c.status().ready:
        _fail(f"the {c.name} cluster is not up: run 'rollback-drill cluster up' first", EXIT_HARNESS)
    try:
        env = deploy(c, reset=reset, log=lambda m: click.echo(f"deploy: {m}"))
    except Exception as e:  # noqa: BLE001 - one clear line, the details are in the logs
        _fail(f"deploy failed: {e}", EXIT_HARNESS)
    click.echo(as_json(env))


# ---- preflight -----------------------------------------------------------------------------
@main.command("preflight")
@click.option("--context", default=None, help="an allowed kubeconfig context (default: the drill cluster)")
@click.option("--namespace", default=None, help="the application's namespace (default: the sidecar's, else mastodon)")
@click.option("--runbook", "runbook_path", default=str(DEFAULT_RUNBOOK), show_default=True)
@click.option("--workdir", default=None, help="folder holding backup/ and k8s/ (default: the drill's)")
@click.option("--json", "as_json", is_flag=True)
def preflight_cmd(context, namespace, runbook_path, workdir, as_json) -> None:
    """Read-only: can each level of the runbook be executed here now? Table per level (+ JSON)."""
    from pathlib import Path as _P

    from rollback_drill.drill.preflight import run_preflight
    from rollback_drill.runbook.preflight import format_table
    from rollback_drill.runbook.model import RunbookError, load_runbook
    try:
        rb = load_runbook(runbook_path)
    except RunbookError as e:
        _fail(f"runbook does not parse: {e}")
    from rollback_drill.sut.application import from_sidecar
    from rollback_drill.untrusted import Untrusted
    try:
        app = from_sidecar(rb.sidecar, namespace=namespace)
    except Untrusted as e:
        _fail(str(e))
    namespace = app.namespace
    if context:
        from rollback_drill.cluster import ClusterError
        from rollback_drill.cluster.existing import ExistingCluster
        from rollback_drill.cluster.kube import Kube
        try:
            c = ExistingCluster(context)
        except ClusterError as e:
            _fail(str(e))
        kube = Kube(c.kubeconfig, None, namespace, context)
        wd = _P(workdir) if workdir else _P.cwd()
        backups = None  # the database backups cannot be listed on someone else's context: not checked
        images_present = None  # a remote node's images cannot be listed read-only: not checked
    else:
        from rollback_drill.sut.deploy import environment
        c = _cluster(None)
        if not c.status().ready:
            _fail("the drill cluster is not up: run 'rollback-drill cluster up' or pass --context", EXIT_HARNESS)
        env = environment(c)
        kube, wd = env.kube, _P(workdir) if workdir else env.workdir
        backups = env.datastores.list_backups() if env.datastores.backups.exists() else []
        images_present = getattr(c, "has_image", None)
    from rollback_drill.observe.cluster_state import ClusterState
    try:
        state = ClusterState(kube)
        result = run_preflight(kube, rb, wd, backups, images_present, state, app)
        if context:  # what `run --sut existing` checks before it changes anything
            from rollback_drill.drill.staging import differences
            result["migrated_state_differences"] = differences(kube, app, rb, 1, wd)
    except Exception as e:  # noqa: BLE001 - an unreadable kubeconfig or cluster: one line, exit 4
        from rollback_drill.settings import first_line
        _fail(f"preflight could not read the cluster ({type(e).__name__}): {first_line(e)[:300]}", EXIT_HARNESS)
    click.echo(json.dumps(result, ensure_ascii=False, indent=2) if as_json else format_table(result))
    sys.exit(EXIT_OK if result["ready"] else EXIT_TARGET_MISSED)


# ---- run -----------------------------------------------------------------------------------
@main.command("run")
@click.option("--level", "level_no", type=int, default=1, show_default=True, help="rollback level to run")
@click.option("--trigger", "trigger_id", default="C1", show_default=True, help="trigger id (C1..M3)")
@click.option("--runbook", "runbook_path", default=str(DEFAULT_RUNBOOK), show_default=True)
@click.option("--provider", default=None)
@click.option("--decision-delay", "decision_delay", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="seconds the automatic decider thinks before the rollback starts (a late decision)")
@click.option("--monitor", "monitor", default="1s", show_default=True,
              help="手順5's monitoring window after verification, e.g. 30m (the runbook asks for >= 30 min)")
@click.option("--profile", "profile_name", default="local", show_default=True,
              help="fidelity profile: local, gke, or a path to a profile YAML (fixtures/profiles/)")
@click.option("--db-size", "db_size", type=click.FloatRange(min=0), default=None,
              help="production database size in GB for the modelled Cloud SQL restore (default: the runbook's "
                   "sidecar database_size_gb, else the profile's)")
@click.option("--context", default=None, help="kubeconfig context (--provider existing; must be allow-listed)")
@click.option("--sut", default="stub", show_default=True, help="stub (deploy the stub Mastodon) or existing "
              "(the team's own migrated release)")
@click.option("--target-url", default=None, help="staging URL for load and probes (existing context; must be "
              "listed in ROLLBACK_DRILL_ALLOWED_TARGETS)")
@click.option("--real-gcloud", is_flag=True, help="allow Level 3 on an existing context to restore the real "
              "Cloud SQL instance")
@click.option("--load-workers", "load_workers", type=click.IntRange(min=0, max=8), default=0, show_default=True,
              help="locust worker processes (distributed mode) for load one process cannot give; 0: one process")
@click.option("--faults", "fault_style", type=click.Choice(["switch", "config"]), default=None,
              help="switch: the stub's fault switches (default with the stub); config: a configuration mistake of "
                   "the Helm release (helm upgrade --reuse-values; DB, sign-in, jobs, media and streaming criteria; "
                   "the only kind for --sut existing)")
@click.option("--namespace", default=None, help="existing context: the application's namespace (default: the "
              "sidecar's; with --sut stub a new one, rollback-drill-stub)")
@click.option("--release", default=None, help="existing context: the Helm release (default: the sidecar's "
              "helm_release, else mastodon-helm)")
@click.option("--host", default=None, help="existing context: the host the Ingress routes (default: the sidecar's "
              "production_host; with --sut stub <namespace>.rollback-drill.test)")
@click.option("--workdir", default=None, help="--sut existing: the folder the runbook's paths are relative to "
              "(backup/, k8s/; default: the current directory)")
@click.option("--chart", default=None, help="--sut existing: the release's chart for a configuration mistake's "
              "helm upgrade (default: the sidecar's helm_chart, else <workdir>/helm/mastodon)")
@click.option("--image", default=None, help="--sut stub on an existing context: the stub image the cluster pulls")
@click.option("--postgres-image", default=None, help="--sut stub on an existing context: PostgreSQL image "
              "(official-compatible; default: the one built here)")
@click.option("--redis-image", default=None, help="--sut stub on an existing context: Redis image (default: the "
              "one built here)")
@click.option("--ca-bundle", "ca_bundle", default=None, help="existing context: PEM file of the CA that signs the "
              "staging URL's certificate (TLS is always verified; default: the system's trust store)")
@click.option("--yes", is_flag=True, help="existing context: carry out the printed plan (without it: plan only)")
@click.option("--samples", type=click.IntRange(min=1, max=100), default=None,
              help="N drills, each with the profile's parameters drawn from their ranges: recovery P50/P95 against "
                   "the target (drill cluster only)")
@click.option("--seed", type=int, default=1, show_default=True, help="--samples: the draws' seed (same seed, same draws)")
@click.option("--parallel", type=int, default=3, show_default=True, help="--samples: drills side by side (lanes)")
def run_cmd(level_no: int, trigger_id: str, runbook_path: str, provider: str | None, decision_delay: float,
            monitor: str, profile_name: str, db_size: float | None, context: str | None, sut: str,
            target_url: str | None, real_gcloud: bool, fault_style: str | None, load_workers: int,
            namespace: str | None, release: str | None, host: str | None, workdir: str | None, chart: str | None,
            image: str | None, postgres_image: str | None, redis_image: str | None, ca_bundle: str | None,
            yes: bool, samples: int | None, seed: int, parallel: int) -> None:
    """Run one drill end to end and write reports/<run-id>/journal.json."""
    from rollback_drill.drill.runner import run_single
    from rollback_drill.drill.targets import Aim, Refused, check_aim
    from rollback_drill.runbook.meaning import target_range
    from rollback_drill.sut.profile import ProfileError, load_profile
    name = provider or os.environ.get("ROLLBACK_DRILL_PROVIDER") or "local"
    try:
        kind = None
        if level_no != 3:
            from rollback_drill.runbook.model import RunbookError, load_runbook
            try:
                kind = load_runbook(runbook_path).trigger(trigger_id).criterion.kind
            except (RunbookError, KeyError):
                kind = None  # said by the drill's own preconditions (exit 2)
        fault_style = fault_style or ("config" if sut == "existing" else "switch")
        check_aim(Aim(name, context, sut, target_url, real_gcloud, fault_style, profile_name, ca_bundle), level_no,
                  kind)
    except Refused as e:
        _fail(str(e))
    window = target_range(monitor if not monitor.strip().replace(".", "", 1).isdigit() else f"{monitor}s")
    if window is None or window[0] != window[1] or window[1] > 4 * 3600:
        _fail(f"--monitor {monitor!r}: expected a duration such as 90s, 5m or 30m (at most 4h)")
    if samples is not None and name == "existing":
        _fail("--samples runs N drills side by side on the harness's own drill cluster, not on an existing context")
    if name == "existing" and level_no == 3:
        _confirm_real_gcloud(runbook_path, context)
    if name == "existing":
        from rollback_drill.drill.runner import run_staging
        from rollback_drill.drill.targets import staging_for
        try:
            staging = staging_for(context, sut, target_url, runbook_path, namespace, release, host, workdir, chart,
                                  image, postgres_image, redis_image)
        except Refused as e:
            _fail(str(e))
        sys.exit(run_staging(level_no, trigger_id, runbook_path, staging, yes, echo=click.echo,
                             fault_style=fault_style, load_workers=load_workers, monitor_s=window[1],
                             ca_bundle=ca_bundle or ""))
    try:
        profile = load_profile(profile_name)
    except ProfileError as e:
        _fail(f"--profile: {e}")
    if samples is not None:
        from rollback_drill.drill.lanes import check_parallel
        from rollback_drill.drill.samples import run_samples
        if check_parallel(parallel):
            _fail(check_parallel(parallel))
        sys.exit(run_samples(level_no, trigger_id, runbook_path, provider, profile, samples, seed,
                             min(parallel, samples), db_size, echo=click.echo))
    sys.exit(run_single(level_no, trigger_id, runbook_path, provider, echo=click.echo,
                        decision_delay_s=decision_delay, monitor_s=window[1], profile=profile, db_size_gb=db_size,
                        fault_style=fault_style, load_workers=load_workers))


def _confirm_real_gcloud(runbook_path: str, context: str | None) -> None:
    """Level 3 on an existing context restores a real Cloud SQL instance: the person types its name."""
    import re

    from rollback_drill.runbook.model import load_runbook
    text = " ".join(c.text for c in load_runbook(runbook_path).level(3).commands)
    names = sorted(set(re.findall(r"--(?:backup-)?instance[= ](\S+)", text)))
    if len(names) != 1:
        _fail(f"Level 3 names {len(names)} Cloud SQL instances ({', '.join(names) or 'none'}): the confirmation "
              f"needs exactly one")
    instance = names[0]
    if not sys.stdin.isatty() and not os.environ.get("ROLLBACK_DRILL_CONFIRM_STDIN"):
        _fail(f"Level 3 on context '{context}' restores Cloud SQL instance {instance} for real: run it from a "
              f"terminal and type the instance name to confirm")
    typed = click.prompt(f"Level 3 restores Cloud SQL instance {instance} for real (all data written after the "
                         f"backup is lost). Type the instance name to confirm", default="", show_default=False)
    if typed.strip() != instance:
        _fail(f"confirmation {typed.strip()!r} is not the instance name {instance}: nothing was changed")
    _fail(f"confirmed; but a Level 3 drill on an existing context is not built yet: the harness cannot damage or "
          f"check the team's own data. Rehearse Level 3 on the drill cluster (rollback-drill run --level 3); "
          f"nothing was changed on '{context}'", EXIT_HARNESS)


# ---- calibrate -----------------------------------------------------------------------------
@main.command("calibrate")
@click.option("--out", required=True, help="the profile YAML to write (e.g. staging.yaml); `run --profile` takes it")
@click.option("--base", "base_name", default="gke", show_default=True,
              help="the profile whose assumptions are measured; what cannot be measured keeps its values")
@click.option("--provider", default=None, help="local (the drill cluster) or existing (with --context)")
@click.option("--context", default=None, help="an allowed kubeconfig context (ROLLBACK_DRILL_ALLOWED_CONTEXTS)")
@click.option("--namespace", default=None, help="the release's namespace, read only (default: the sidecar's)")
@click.option("--runbook", "runbook_path", default=str(DEFAULT_RUNBOOK), show_default=True,
              help="its sidecar names the release's Deployments and Ingress")
@click.option("--pods", type=click.IntRange(1, 5), default=3, show_default=True, help="boot samples per component")
@click.option("--switches", type=click.IntRange(0, 6), default=2, show_default=True,
              help="Ingress backend switches to time (0: none)")
@click.option("--probe-url", default=None, help="existing context: where this machine reaches calibrate's Ingress (a "
              "loopback port-forward, or a URL listed in ROLLBACK_DRILL_ALLOWED_TARGETS)")
@click.option("--probe-image", default=None, help="existing context: the stub image (its echo backends name the pod "
              "that answered), pushed where the cluster pulls from")
@click.option("--ingress-class", default=None, help="the throwaway Ingress's class (default: the release's Ingress's)")
@click.option("--operations", "operations_file", default=None,
              help="a recorded `gcloud sql operations list --instance=I --format=json` answer: past restores")
@click.option("--real-gcloud", "gcloud_instance", default=None, metavar="INSTANCE",
              help="read the Cloud SQL instance's operation history with gcloud (read only)")
@click.option("--emulate", "emulate_name", default=None, help="the drill cluster only: emulate this profile on "
              "calibrate's own objects (the closed loop: calibrate must measure the emulated values)")
@click.option("--yes", is_flag=True, help="existing context: carry out the printed plan (without it: plan only)")
def calibrate_cmd(out, base_name, provider, context, namespace, runbook_path, pods, switches, probe_url, probe_image,
                  ingress_class, operations_file, gcloud_instance, emulate_name, yes) -> None:
    """Measure on a cluster what a profile assumes and write a profile of the team's own numbers."""
    from pathlib import Path as _P

    from rollback_drill.drill.calibrate import Calibration, run_calibrate
    from rollback_drill.sut.profile import ProfileError, load_profile
    from rollback_drill.untrusted import Untrusted
    name = "existing" if context else (provider or os.environ.get("ROLLBACK_DRILL_PROVIDER") or "local")
    try:
        base = load_profile(base_name)
        emulate = load_profile(emulate_name) if emulate_name else None
    except ProfileError as e:
        _fail(f"calibrate: {e}")
    out_path = _P(out)
    if out_path.is_dir() or not out_path.parent.is_dir():
        _fail(f"--out {out}: expected a file path in an existing folder")
    if out_path.resolve() in {_P(p.path).resolve() for p in (base, emulate) if p is not None}:
        _fail(f"--out {out} is the profile calibrate starts from: write the team's numbers to a file of their own")
    if operations_file:  # the team's file: read here, so a wrong one is bad input (exit 2), before any change
        from rollback_drill.observe.calibration import OperationsUnreadable, restores
        try:
            restores(json.loads(_P(operations_file).read_text(encoding="utf-8")))
        except OSError:
            _fail(f"--operations {operations_file}: no such file")
        except (ValueError, OperationsUnreadable) as e:
            _fail(f"--operations {operations_file}: not a `gcloud sql operations list --format=json` answer "
                  f"({str(e).splitlines()[0][:200] if str(e) else type(e).__name__})")
    if gcloud_instance:
        from rollback_drill.untrusted import object_name
        try:
            object_name(gcloud_instance, "--real-gcloud", "Cloud SQL instance")
        except Untrusted as e:
            _fail(str(e))
    if emulate and name == "existing":
        _fail("--emulate acts on the drill cluster only (it is the closed loop's test equipment, not for a team's "
              "cluster)")
    from rollback_drill.runbook.model import RunbookError, load_runbook
    from rollback_drill.sut.application import from_sidecar
    try:
        app = from_sidecar(load_runbook(runbook_path).sidecar, namespace=namespace)
    except RunbookError as e:
        _fail(f"runbook does not parse: {e}")
    except Untrusted as e:
        _fail(str(e))
    from rollback_drill.cluster import ClusterError
    from rollback_drill.cluster.kube import Kube
    from rollback_drill.settings import lane
    own = name != "existing"
    calib_ns = "rollback-drill-calibrate" + (f"-{lane()}" if lane() else "")
    why_no_probe = ""
    if own:
        from rollback_drill.drill.runner import cluster_that_is_up
        from rollback_drill.sut.deploy import deploy, lane_app
        cluster = cluster_that_is_up(provider, click.echo)
        if cluster is None:
            sys.exit(EXIT_HARNESS)
        if namespace is None:
            app = lane_app(lane())
        click.echo("calibrate: the stub's just-migrated state (its release is what calibrate reads)")
        env = deploy(cluster, log=lambda *_: None)
        release = env.kube
        kube = Kube(env.kube.kubeconfig, cluster.bin_dir, calib_ns)
        url, image, where = cluster.ingress_url, probe_image or env.image, f"the drill cluster ({cluster.name})"
    else:
        from rollback_drill.cluster.existing import ExistingCluster
        try:
            c = ExistingCluster(context)
        except ClusterError as e:
            _fail(str(e))
        release = Kube(c.kubeconfig, c.bin_dir, app.namespace, context)
        kube = Kube(c.kubeconfig, c.bin_dir, calib_ns, context)
        where, image, url = f"context {context}", probe_image or "", None
        if switches and not (probe_url and probe_image):
            why_no_probe = "no --probe-url and --probe-image given: the Ingress switch was not measured"
        elif switches:
            from rollback_drill.untrusted import reachable_url
            try:
                url = reachable_url(probe_url)
            except Untrusted as e:
                _fail(f"--probe-url: {e}")
    if not switches:
        url, why_no_probe = None, "--switches 0"
    klass = ingress_class
    if klass is None:
        try:
            klass = release.net.read_namespaced_ingress(app.ingress, app.namespace).spec.ingress_class_name
        except Exception:  # noqa: BLE001 - unreadable: the cluster's default class, said in the plan
            klass = None
    cal = Calibration(where, kube, release, app, base, out_path, url, image, klass, why_no_probe, pods, switches,
                      emulate, _P(operations_file) if operations_file else None, gcloud_instance,
                      node=cluster if own and emulate else None)
    sys.exit(run_calibrate(cal, yes, own, click.echo))


# ---- nightly gate --------------------------------------------------------------------------
@main.command("gate")
@click.option("--reports", default="reports", show_default=True, help="the night's reports (journals, mutations)")
@click.option("--runbook", "runbook_path", default=str(DEFAULT_RUNBOOK), show_default=True,
              help="the runbook drilled; its baseline is <runbook>.baseline.yaml beside it")
@click.option("--baseline", default=None, help="the acknowledged baseline (default: beside the runbook)")
@click.option("--history", default="reports/nightly-history.jsonl", show_default=True,
              help="one line per night (kept between nights by the workflow's cache)")
@click.option("--summary", default=None, help="append the night's summary (Markdown) here, e.g. $GITHUB_STEP_SUMMARY")
@click.option("--write-baseline", is_flag=True, help="write tonight's findings, survivors and verdicts as the "
              "baseline (each reason still to be written by a person) instead of comparing")
def gate_cmd(reports: str, runbook_path: str, baseline: str | None, history: str, summary: str | None,
             write_baseline: bool) -> None:
    """Red (exit 1) only on a change since the acknowledged baseline and the earlier nights: a new
    finding, a new surviving mutant, a changed verdict, a slower recovery of the same scenario beyond its
    own spread. Known findings and survivors keep the night green."""
    from pathlib import Path as _P

    import yaml

    from rollback_drill.evidence import nightly as N
    base_path = _P(baseline) if baseline else _P(runbook_path).with_suffix(".baseline.yaml")
    try:
        night = N.read_night(_P(reports))
        if write_baseline:
            base_path.write_text(yaml.safe_dump(N.baseline_of(night, ""), allow_unicode=True, sort_keys=False))
            click.echo(f"baseline written: {base_path} ({len(night.findings)} findings, {len(night.survivors)} "
                       f"survivors): write each entry's reason before the gate accepts it")
            return
        base = N.load_baseline(base_path)
        past = N.read_history(_P(history))
    except N.GateError as e:
        _fail(str(e))
    changes, notes = N.compare(night, base, past)
    text = N.summary(changes, notes, len(past))
    click.echo(text, nl=False)
    if summary:
        with open(summary, "a", encoding="utf-8") as f:
            f.write(text)
    _P(history).parent.mkdir(parents=True, exist_ok=True)
    with open(history, "a", encoding="utf-8") as f:
        f.write(json.dumps(night.to_history(_P(reports).resolve().name + f"@{int(time.time())}")) + "\n")
    sys.exit(EXIT_TARGET_MISSED if changes else EXIT_OK)


# ---- put-back ------------------------------------------------------------------------------
@main.command("put-back")
@click.option("--context", required=True, help="the allow-listed context a killed drill left changes on")
def put_back_cmd(context: str) -> None:
    """Put back what a killed drill on an existing context changed (its pending file lists it)."""
    from rollback_drill.cluster.existing import check_allowed
    from rollback_drill.cluster.kube import user_kubeconfig
    from rollback_drill.cluster.local import LocalCluster
    from rollback_drill.sut.existing import put_back_pending
    from rollback_drill.cluster import ClusterError
    try:
        check_allowed(context)
    except ClusterError as e:
        _fail(str(e))
    sys.exit(put_back_pending(context, user_kubeconfig(), LocalCluster().bin_dir, click.echo))


# ---- mutate --------------------------------------------------------------------------------
@main.command("mutate")
@click.option("--level", "level_no", type=int, required=True, help="rollback level whose steps are mutated")
@click.option("--trigger", "trigger_id", default="C1", show_default=True, help="trigger id of the drills")
@click.option("--runbook", "runbook_path", default=str(DEFAULT_RUNBOOK), show_default=True)
@click.option("--provider", default=None)
@click.option("--json", "as_json", is_flag=True, help="print the mutation result as JSON")
@click.option("--full-wait", is_flag=True, help="wait for each mutant's recovery as long as a normal drill")
@click.option("--only", multiple=True, help="run only these mutants (e.g. delete:5, repoint:1); repeatable")
@click.option("--parallel", type=int, default=1, show_default=True,
              help="run the mutants' drills N at a time, each in a lane of its own (namespace, host, datastores)")
@click.option("--profile", "profile_name", default=None, help="fidelity profile of every drill (default: local)")
def mutate_cmd(level_no, trigger_id, runbook_path, provider, as_json, full_wait, only, parallel, profile_name) -> None:
    """Mutation testing of a level: baseline drill, then one drill per deleted or re-pointed command."""
    from rollback_drill.drill.lanes import check_parallel
    from rollback_drill.drill.runner import run_mutate
    from rollback_drill.sut.profile import ProfileError, load_profile
    if check_parallel(parallel):
        _fail(check_parallel(parallel))
    try:
        profile = load_profile(profile_name) if profile_name else None
    except ProfileError as e:
        _fail(f"--profile: {e}")
    progress = (lambda m: click.echo(m, err=True)) if as_json else click.echo  # stdout stays pure JSON
    sys.exit(run_mutate(level_no, trigger_id, runbook_path, provider, echo=progress, as_json=as_json,
                        full_wait=full_wait, only=tuple(only), out=click.echo, parallel=parallel, profile=profile))


@main.command("mutant-drill", hidden=True)
@click.option("--level", "level_no", type=int, required=True)
@click.option("--trigger", "trigger_id", required=True)
@click.option("--runbook", "runbook_path", required=True)
@click.option("--provider", default=None)
@click.option("--limit", type=float, default=None)
@click.option("--mutant", "mutant_id", required=True)
@click.option("--out", required=True)
@click.option("--profile", "profile_name", default=None)
def mutant_drill_cmd(level_no, trigger_id, runbook_path, provider, limit, mutant_id, out, profile_name) -> None:
    """One mutant's drill in $ROLLBACK_DRILL_LANE (what `mutate --parallel` starts per lane)."""
    from rollback_drill.drill.runner import run_mutant_child
    from rollback_drill.sut.profile import ProfileError, load_profile
    try:
        profile = load_profile(profile_name) if profile_name else None
    except ProfileError as e:
        _fail(f"--profile: {e}")
    sys.exit(run_mutant_child(level_no, trigger_id, runbook_path, provider, mutant_id, limit, out, click.echo,
                              profile))


# ---- gameday -------------------------------------------------------------------------------
@main.command("gameday")
@click.option("--level", "level_no", type=int, default=None, help="the level the operator is to carry out")
@click.option("--trigger", "trigger_id", default="C1", show_default=True, help="the failure the harness plays")
@click.option("--runbook", "runbook_path", default=str(DEFAULT_RUNBOOK), show_default=True)
@click.option("--provider", default=None)
@click.option("--operator", default="", help="who runs the rollback (named in the evidence)")
@click.option("--operator-script", "script_path", default=None,
              help="a scripted operator ('+SECONDS COMMAND', '+SECONDS ack', '+SECONDS ctrl-c'), typed into the shell")
@click.option("--unannounced", "unannounced_s", type=float, default=None,
              help="inject at a random moment within this many seconds (default: at once)")
@click.option("--immediate-allowance", "allowance_s", type=float, default=60.0, show_default=True,
              help="what 即座 (immediately) allows a person, in seconds: the team's acknowledgement target")
@click.option("--alert-webhook", "webhook", default=None, help="POST the alert here (loopback or an allowed origin)")
@click.option("--wait", "wait_s", type=float, default=None, help="how long to wait for recovery after the alert (s)")
@click.option("--against", default=None, metavar="JOURNAL",
              help="the journal (or run folder) of an automatic drill of the same level and trigger: the debrief "
                   "says who was faster at which step, and why")
@click.option("--hints", is_flag=True, help="the operator's `hint` prints the runbook step that matches the cluster "
                                          "now (recorded: a game day with hints is timed as such)")
@click.option("--abort", is_flag=True, help="stop the game day running here (the facilitator's stop)")
def gameday_cmd(level_no, trigger_id, runbook_path, provider, operator, script_path, unannounced_s, allowance_s,
                webhook, wait_s, against, hints, abort) -> None:
    """A person runs the rollback in a recorded shell; the harness plays the failure and keeps the clock."""
    from rollback_drill.drill import gameday_session
    if abort:
        sys.exit(gameday_session.abort())
    if level_no is None:
        click.echo("rollback-drill: gameday needs --level N (the level the operator is to carry out)")
        sys.exit(2)
    for name, v in (("--unannounced", unannounced_s), ("--immediate-allowance", allowance_s), ("--wait", wait_s)):
        if v is not None and not v >= 0:
            click.echo(f"rollback-drill: {name} must be 0 or more seconds, got {v}")
            sys.exit(2)
    sys.exit(gameday_session.run_gameday(level_no, trigger_id, runbook_path, provider, click.echo, operator, script_path,
                                         unannounced_s, allowance_s, webhook, wait_s, against, hints))


if __name__ == "__main__":
    main()
