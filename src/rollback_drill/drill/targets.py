"""What a drill may aim at, decided before anything runs: which cluster context, which system
under test, which URL load and probes may reach, and which levels are allowed there.

Every refusal is one line naming what was asked, why not, and how to allow it (exit 2). The
harness drives our own cluster freely; a context it did not create must be listed in
ROLLBACK_DRILL_ALLOWED_CONTEXTS, a URL other than the local Ingress in ROLLBACK_DRILL_ALLOWED_TARGETS,
and Level 3 there restores a real Cloud SQL instance only with --real-gcloud.
"""

from __future__ import annotations

from dataclasses import dataclass

from rollback_drill import untrusted
from rollback_drill.untrusted import ALLOWED_TARGETS_ENV, Untrusted
TRAFFIC_KINDS = {"error_ratio", "latency_factor"}  # criteria only the stub's traffic faults can make true


class Refused(ValueError):
    """A drill that must not run as asked (exit 2)."""


@dataclass(frozen=True)
class Aim:
    provider: str
    context: str | None = None
    sut: str = "stub"  # stub | existing
    target_url: str | None = None
    real_gcloud: bool = False
    fault_style: str = "switch"
    profile: str = "local"
    ca_bundle: str | None = None


def check_target(url: str) -> str:
    """The base URL load and probes may send to, if it is explicitly allowed (scheme, host and port)."""
    try:
        o = untrusted.origin(url, "--target-url")
        allowed = untrusted.allowed_origins()
    except Untrusted as e:
        raise Refused(str(e)) from None
    if o not in allowed:
        raise Refused(f"refusing --target-url {o}: load and probes go only to the drill's own Ingress unless the "
                      f"URL is allowed explicitly ({ALLOWED_TARGETS_ENV}={o})")
    return str(o)


def check_ca_bundle(path: str) -> str:
    """A PEM file of CA certificates that load and probes trust for the staging URL."""
    import ssl
    try:
        ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError, ValueError) as e:
        raise Refused(f"--ca-bundle {path}: not a readable PEM file of CA certificates ({e}); pass the staging "
                      f"CA's certificate") from None
    return path


def check_aim(aim: Aim, level_no: int, criterion_kind: str | None) -> None:
    """Every refusal that needs no cluster to decide."""
    if aim.sut not in ("stub", "existing"):
        raise Refused(f"--sut {aim.sut!r}: expected 'stub' (the harness deploys its stub Mastodon) or 'existing' "
                      f"(the team's own, already migrated release)")
    if aim.provider != "existing":
        if aim.sut == "existing":
            raise Refused("--sut existing drills the team's own release: it needs --provider existing --context NAME")
        if aim.target_url or aim.ca_bundle:
            raise Refused(f"{'--target-url' if aim.target_url else '--ca-bundle'} is for a staging host behind an "
                          f"existing context; drills on the drill cluster use its own Ingress on 127.0.0.1")
        return
    from rollback_drill.cluster import ClusterError
    from rollback_drill.cluster.existing import check_allowed
    from rollback_drill.cluster.kube import current_context, user_kubeconfig
    context = aim.context or current_context(user_kubeconfig())
    if not context:
        raise Refused("--provider existing needs --context NAME (an allow-listed kubeconfig context)")
    try:
        untrusted.context(context, "--context" if aim.context else "the kubeconfig's current-context")
    except Untrusted as e:
        raise Refused(str(e)) from None
    try:
        check_allowed(context)
    except ClusterError as e:
        raise Refused(str(e)) from None
    if aim.target_url:
        check_target(aim.target_url)
    if aim.ca_bundle:
        check_ca_bundle(aim.ca_bundle)
    if aim.profile != "local":
        raise Refused(f"--profile {aim.profile} emulates production's latencies on the drill cluster; context "
                      f"'{context}' has its own: drop --profile")
    if level_no == 3 and not aim.real_gcloud:
        raise Refused(f"refusing Level 3 on context '{context}': it restores a real Cloud SQL instance; "
                      f"pass --real-gcloud (you will be asked to type the instance name)")
    if aim.sut == "existing" and criterion_kind in TRAFFIC_KINDS:
        raise Refused(f"a criterion of kind '{criterion_kind}' needs a traffic fault of the stub (a given 5xx ratio "
                      f"or added latency), which the team's own release does not have: use --sut stub, or a "
                      f"trigger whose fault is a configuration mistake (DB, sign-in, jobs, media, streaming)")
    if aim.sut == "existing" and aim.fault_style != "config":
        raise Refused("--sut existing: the team's release has no fault switches; its faults are configuration "
                      "mistakes (--faults config, the default there)")
    if not aim.target_url:
        raise Refused(f"--provider existing needs --target-url URL: where load and probes reach the application on "
                      f"'{context}' (and {ALLOWED_TARGETS_ENV} listing it)")


def staging_for(context: str | None, sut: str, target_url: str, runbook_path: str, namespace: str | None,
                release: str | None, host: str | None, workdir: str | None, chart: str | None, image: str | None,
                postgres_image: str | None, redis_image: str | None):
    """What `run --provider existing` drills: the application named by the sidecar and the flags (each
    name checked where it enters: a refusal names the flag or sidecar key)."""
    from rollback_drill.cluster.kube import current_context, user_kubeconfig
    from rollback_drill.runbook.model import RunbookError, load_runbook
    kubeconfig = user_kubeconfig()
    context = context or current_context(kubeconfig)
    try:
        sidecar = load_runbook(runbook_path).sidecar
    except RunbookError as e:
        raise Refused(str(e)) from None
    try:
        return _staging(context, kubeconfig, sidecar, sut, target_url, namespace, release, host, workdir, chart, image,
                        postgres_image, redis_image)
    except Untrusted as e:
        raise Refused(str(e)) from None


def _staging(context, kubeconfig, sidecar, sut, target_url, namespace, release, host, workdir, chart, image,
             postgres_image, redis_image):
    from pathlib import Path

    from rollback_drill.sut.application import from_sidecar
    from rollback_drill.sut.existing import Staging
    untrusted.context(context, "--context")
    if sut == "stub":
        from rollback_drill.sut.images import datastore_image, stub_image
        ns = untrusted.namespace(namespace or "rollback-drill-stub", "--namespace")
        app = from_sidecar({}, namespace=ns, host=host or f"{ns}.rollback-drill.test", release=release)
        st = Staging(context, kubeconfig, sut, app, check_target(target_url), Path("."), None,
                     image or stub_image().name, postgres_image or datastore_image("postgres").name,
                     redis_image or datastore_image("redis").name)
        st.workdir = st.run_dir / "work"
        return st
    app = from_sidecar(sidecar, namespace=namespace, release=release, host=host)
    wd = Path(workdir) if workdir else Path.cwd()
    if not wd.is_dir():
        raise Refused(f"--workdir {wd}: not a folder (the runbook's paths backup/, k8s/ are relative to it)")
    chart_path = Path(chart or sidecar.get("helm_chart") or wd / "helm" / "mastodon")
    if not chart_path.is_absolute() and not chart_path.exists():
        chart_path = wd / chart_path
    return Staging(context, kubeconfig, sut, app, check_target(target_url), wd.resolve(), chart_path)
