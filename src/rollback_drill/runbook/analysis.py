"""What in the runbook would mislead or hurt the operator: findings beyond "a command failed".

Static (from the text and the files it applies), and live (from the cluster in the state the
step runs in, read through the kubernetes client). Each finding has a class, a severity, the
line and command, what was observed and what to change. `preflight` runs the same analysis
read-only; drills add the findings that need the procedure to run (a wait that raced, a stated
duration against the measured one).

Classes:
- missing_object: the command looks at or changes an object that does not exist, has no running
  pod, or belongs to the stack that is not serving (a status check of the wrong stack);
- no_wait: a level brings a component back but never waits for it before it switches traffic or
  ends;
- wait_race: a wait started before anything matching it existed (passed by luck, or not);
- broad_scope: `--all`, selectors, no namespace: what it touched (or would), flagging objects
  outside the application;
- alternative: an "または" form that fails here, or names an object that could be someone else's;
- placeholder: example values and placeholders left in commands;
- duration: a step's stated duration (a comment like 「30秒-1分」) against the measured one;
- removes_serving: a command that takes away a stack users are served by — decided by the procedure
  (removed before any traffic switch, or after one with nothing waiting for traffic to move: under
  GKE's Ingress propagation, Level 1's Helm scale-down), with the answers' origin as evidence when seen.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from rollback_drill.runbook import meaning as M
from rollback_drill.runbook.model import Command, Level

SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


@dataclass
class Finding:
    line: int
    command: str
    problem: str
    action: str
    kind: str = "failed"  # failed | missing_object | no_wait | wait_race | broad_scope | alternative |
    #                       placeholder | duration | removes_serving
    severity: str = "medium"  # high | medium | low
    observed: str = ""  # the evidence: what the cluster or the clock said
    step: str = ""  # Level N / 手順N (…)

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def ordered(findings: list[Finding]) -> list[Finding]:
    """Most severe first, then in runbook order; one finding per (class, line, problem)."""
    seen, out = set(), []
    for f in sorted(findings, key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.line)):
        key = (f.kind, f.line, f.problem)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


# ---- static ---------------------------------------------------------------------------------
PLACEHOLDER = re.compile(r"YOUR_[A-Z0-9_]+|<[A-Za-z_ -]+>|\bxxx\b|CHANGEME|PLACEHOLDER", re.I)


def placeholders(commands: tuple[Command, ...], step: str, example_values: set[str] = frozenset()) -> list[Finding]:
    out = []
    for c in commands:
        for m in PLACEHOLDER.finditer(c.text):
            out.append(Finding(c.line, c.text, f"placeholder left in the command: {m.group(0)}",
                               "put the real value (or a variable set by an earlier step)", "placeholder", "high",
                               f"'{m.group(0)}' is not a value", step))
        for v in sorted(example_values):
            if re.search(rf"(?<![\w-]){re.escape(v)}(?![\w-])", c.text):
                out.append(Finding(c.line, c.text, f"the example value {v} (given as an example, 例/e.g., in the "
                                   f"runbook) is used as the real one", "use the value the earlier step finds, "
                                   "e.g. $BACKUP_ID", "placeholder", "high", f"'{v}' appears after '例'/'e.g.'", step))
    return out


def example_values(text: str) -> set[str]:
    """Values the runbook itself calls examples: `例: BACKUP_ID=123…`, `e.g. BACKUP_ID=123…`."""
    vals = set()
    for line in text.splitlines():
        low = M.norm(line)
        if any(w in low for w in M.EXAMPLE_WORDS):
            vals |= set(re.findall(r"=\s*([\w.-]{6,})", line))
    return vals


def deployments_of(cmd: Command, workdir: Path) -> list[str]:
    """The Deployments a command brings back: a scale to >= 1, an apply of files or a kustomization."""
    m = re.match(r"^\s*kubectl\s+scale\s+(?:deployment|deploy)\s+([\w.-]+)\s+--replicas=(\d+)", cmd.text)
    if m:
        return [m.group(1)] if int(m.group(2)) > 0 else []
    m = re.match(r"^\s*kubectl\s+apply\s+(-f|-k)\s+(\S+)", cmd.text)
    if not m:
        return []
    target = workdir / m.group(2)
    try:
        if m.group(1) == "-k":
            text = subprocess.run(["kubectl", "kustomize", str(target)], capture_output=True, text=True,
                                  timeout=30).stdout
        else:
            text = target.read_text()
        docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    except (OSError, subprocess.SubprocessError, yaml.YAMLError):
        return []
    return [d["metadata"]["name"] for d in docs if d.get("kind") == "Deployment"]


def switches_traffic(cmd: Command, workdir: Path) -> bool:
    m = re.match(r"^\s*kubectl\s+apply\s+-f\s+(\S+)", cmd.text)
    if not m:
        return False
    try:
        return any(isinstance(d, dict) and d.get("kind") == "Ingress"
                   for d in yaml.safe_load_all((workdir / m.group(1)).read_text()))
    except (OSError, yaml.YAMLError):
        return False


def waited_for(cmd: Command) -> set[str]:
    """What a wait covers: `kubectl wait … -l app=X` / `rollout status deployment/X` -> {X}."""
    t = cmd.text
    if re.match(r"^\s*kubectl\s+rollout\s+status\s+(?:deployment|deploy)/([\w.-]+)", t):
        return {re.match(r"^\s*kubectl\s+rollout\s+status\s+(?:deployment|deploy)/([\w.-]+)", t).group(1)}
    if re.match(r"^\s*kubectl\s+wait\b", t):
        sel = re.search(r"-l\s+([\w./-]+)=([\w.-]+)", t)
        named = re.findall(r"(?:deployment|deploy)/([\w.-]+)", t)
        return ({sel.group(2)} if sel else set()) | set(named)
    return set()


def missing_waits(level: Level, workdir: Path, step: str) -> list[Finding]:
    """Components a level brings back but never waits for before it switches traffic or ends."""
    out: list[Finding] = []
    pending: dict[str, Command] = {}
    for c in level.commands:
        for d in deployments_of(c, workdir):
            pending.setdefault(d, c)
        for d in waited_for(c):
            pending.pop(d, None)
        if switches_traffic(c, workdir) or re.match(r"^\s*kubectl\s+exec\b", c.text):
            for d, origin in list(pending.items()):
                what = "switches traffic" if switches_traffic(c, workdir) else "checks it"
                out.append(Finding(origin.line, origin.text, f"brings back {d} but the level never waits for it to "
                                   f"be ready before line {c.line} {what} ({c.text})",
                                   f"add `kubectl rollout status deployment/{d} --timeout=…` before line {c.line}",
                                   "no_wait", "medium", f"no wait covering {d} between line {origin.line} and {c.line}",
                                   step))
                pending.pop(d)
    for d, origin in pending.items():
        out.append(Finding(origin.line, origin.text, f"brings back {d} but the level never waits for it before it ends",
                           f"add `kubectl rollout status deployment/{d} --timeout=…` at the end of the level",
                           "no_wait", "low", f"no wait covering {d} after line {origin.line}", step))
    return out


def stated_duration(comment: str) -> tuple[float, float] | None:
    """「Podの起動を待つ（30秒-1分）」 / "(15–30 min)" -> (30, 60) / (900, 1800)."""
    for m in re.finditer(r"[（(]([^（）()]+)[）)]", comment):
        rng = M.target_range(m.group(1))
        if rng:
            return rng
    return None


def no_namespace(commands: tuple[Command, ...], namespace: str, step: str) -> list[Finding]:
    lines = [c for c in commands if re.match(r"^\s*(kubectl|helm)\s", c.text)
             and not re.search(r"\s(-n|--namespace)[\s=]|--all-namespaces|\s-A\b", c.text)]
    if not lines:
        return []
    first = lines[0]
    return [Finding(first.line, first.text, f"{len(lines)} kubectl/helm commands of {step} name no namespace: they "
                    f"act on whatever namespace the operator's current context has",
                    "add -n <namespace> (or a `kubectl config set-context --current --namespace=…` step first)",
                    "broad_scope", "low", f"here they acted on '{namespace}', the drill context's default "
                    f"(lines {', '.join(str(c.line) for c in lines)})", step)]


# ---- live (the kubernetes client) --------------------------------------------------------------
@dataclass
class LiveState:
    """What the cluster looks like when a step runs: Deployments with ready pods, the Deployments
    behind the Ingress (the serving stack), Helm releases, and everything else in the namespace."""

    deployments: dict[str, int] = field(default_factory=dict)  # name -> ready replicas
    serving: set[str] = field(default_factory=set)  # Deployments whose Services the Ingress routes to
    releases: set[str] = field(default_factory=set)
    objects: dict[str, set[str]] = field(default_factory=dict)  # kind -> names
    app_labels: dict[str, dict] = field(default_factory=dict)  # deployment -> pod labels
    ingress_backends: set[str] = field(default_factory=set)  # the Services the Ingress routes to
    replicas: dict[str, int] = field(default_factory=dict)  # name -> replicas asked for (spec)

    @classmethod
    def read(cls, state, ingress: str = "mastodon") -> "LiveState":
        """`state` is an observe.cluster_state.ClusterState."""
        from kubernetes.client.rest import ApiException
        ns = state.ns
        ls = cls()
        for d in state.apps.list_namespaced_deployment(ns).items:
            ls.deployments[d.metadata.name] = d.status.ready_replicas or 0
            ls.replicas[d.metadata.name] = d.spec.replicas if d.spec.replicas is not None else 1
            ls.app_labels[d.metadata.name] = dict(d.spec.template.metadata.labels or {})
        svcs = {s.metadata.name: dict(s.spec.selector or {}) for s in state.core.list_namespaced_service(ns).items}
        ls.objects = {"deployment": set(ls.deployments), "service": set(svcs),
                      "statefulset": {s.metadata.name for s in state.apps.list_namespaced_stateful_set(ns).items},
                      "configmap": {c.metadata.name for c in state.core.list_namespaced_config_map(ns).items},
                      "secret": {s.metadata.name for s in state.core.list_namespaced_secret(ns).items},
                      "ingress": {i.metadata.name for i in state.net.list_namespaced_ingress(ns).items}}
        try:
            ing = state.net.read_namespaced_ingress(ingress, ns)
            backends = {p.backend.service.name for r in ing.spec.rules or [] for p in r.http.paths}
        except ApiException:
            backends = set()
        ls.ingress_backends = set(backends)
        for svc in backends:
            sel = svcs.get(svc, {})
            for d, labels in ls.app_labels.items():
                if sel and all(labels.get(k) == v for k, v in sel.items()):
                    ls.serving.add(d)
        for s in state.core.list_namespaced_secret(ns, label_selector="owner=helm").items:
            if (s.metadata.labels or {}).get("status") == "deployed":
                ls.releases.add(s.metadata.labels.get("name", ""))
        return ls

    def matching(self, selector: str) -> list[str]:
        k, _, v = selector.partition("=")
        return [d for d, labels in self.app_labels.items() if labels.get(k) == v]


def check_objects(cmd: Command, live: LiveState, step: str, looks_only: bool) -> list[Finding]:
    """missing_object for one command in the state it runs in."""
    out: list[Finding] = []
    for obj in M.objects_touched(cmd.text):
        m = re.match(r"^(deployment|service|configmap|secret|ingress|statefulset)/([\w.-]+)$", obj)
        if m:
            kind, name = m.groups()
            if name not in live.objects.get(kind, set()):
                alt = [d for d in live.objects.get(kind, set()) if name.split("-")[-1] in d and d != name]
                out.append(Finding(cmd.line, cmd.text, f"{kind} {name} does not exist in the state this step runs in",
                                   f"name an existing object{(' (here: ' + ', '.join(sorted(alt)) + ')') if alt else ''}",
                                   "missing_object", "high", f"{kind}s present: {', '.join(sorted(live.objects.get(kind, set()))) or 'none'}",
                                   step))
            elif kind == "deployment" and looks_only:
                ready = live.deployments.get(name, 0)
                if ready == 0:
                    out.append(Finding(cmd.line, cmd.text, f"deployment {name} has no running pod here: this check "
                                       f"tells the operator nothing about the service",
                                       f"look at the serving stack ({', '.join(sorted(live.serving)) or 'none'})",
                                       "missing_object", "high", f"{name}: 0 ready replicas", step))
                elif live.serving and name not in live.serving and _same_role(name, live.serving):
                    out.append(Finding(cmd.line, cmd.text, f"deployment {name} is not the stack that serves traffic "
                                       f"now", f"look at {', '.join(sorted(live.serving))} as well (the Ingress "
                                       f"routes there)", "missing_object", "medium",
                                       f"Ingress -> {', '.join(sorted(live.serving))}", step))
        m = re.match(r"^pod -l ([\w./-]+=[\w.-]+)$", obj)
        if m and looks_only and not live.matching(m.group(1)):
            out.append(Finding(cmd.line, cmd.text, f"no pod matches {m.group(1)} here", "select the serving stack's "
                               "pods", "missing_object", "medium", f"selector {m.group(1)} matches no Deployment", step))
    return out


def _same_role(name: str, serving: set[str]) -> bool:
    role = name.split("-")[-1]
    return any(s.endswith(role) or role in s for s in serving)


def alternatives(commands: tuple[Command, ...], live: LiveState, step: str, application: set[str]) -> list[Finding]:
    """An "または" pair: a form that fails here, or that names a release/object outside the application."""
    out = []
    for i, c in enumerate(commands):
        partners = [commands[c.alternative_to]] if c.alternative_to is not None else []
        if not partners and not any(x.alternative_to == i for x in commands):
            continue
        m = re.match(r"^\s*helm\s+(?:uninstall|delete)\s+([\w.-]+)", c.text)
        if m:
            rel = m.group(1)
            if rel not in live.releases:
                out.append(Finding(c.line, c.text, f"one form of an 'または' pair names Helm release '{rel}', which does "
                                   "not exist here; where a release of that name exists (another app, an older "
                                   "chart) this form would uninstall it", "name the one release this runbook is "
                                   "for (or look it up first: `helm list`)", "alternative", "medium",
                                   f"releases here: {', '.join(sorted(live.releases)) or 'none'}", step))
            elif rel not in application:
                out.append(Finding(c.line, c.text, f"'{rel}' exists but is not this application's release",
                                   "do not run this form here", "alternative", "high", f"release {rel}", step))
    return out


def scope_listing(cmd: Command, live: LiveState, application: set[str], step: str) -> list[Finding]:
    """`--all` / selectors: every object it touches (or would), those outside the application flagged."""
    t = cmd.text
    out = []
    m = re.match(r"^\s*kubectl\s+(\w+)\s+(deployment|deploy|statefulset|pod|pods)\b.*\s--all\b", t)
    if m:
        kind = "statefulset" if m.group(2) == "statefulset" else "deployment"
        touched = sorted(live.objects.get(kind, set()))
        outside = [n for n in touched if n not in application]
        out.append(Finding(cmd.line, t, f"`--all` {m.group(1)}s every {kind} in the namespace: "
                           f"{', '.join(touched) or 'none'}" + (f"; outside the application: {', '.join(outside)}"
                                                                 if outside else ""),
                           "name the Deployments (or select them by the application's label)", "broad_scope",
                           "high" if outside else "low", f"{len(touched)} {kind}s touched", step))
    return out


def applicable_findings(level: Level, workdir: Path, step: str, full_text: str) -> list[Finding]:
    """The static classes for a level (no cluster needed)."""
    return (placeholders(level.commands, step, example_values(full_text)) + missing_waits(level, workdir, step))


def deployments_waited(cmd: Command) -> set[str]:
    """Deployments a command waits on as Deployments (`rollout status deployment/X`, `kubectl wait …
    deployment/X`): unlike a wait on pod labels, these cannot start before the pods exist."""
    if re.match(r"^\s*kubectl\s+rollout\s+status\b", cmd.text) or (
            re.match(r"^\s*kubectl\s+wait\b", cmd.text) and " -l " not in cmd.text):
        return set(re.findall(r"(?:deployment|deploy|deployments)/([\w.-]+)", cmd.text))
    return set()


def wait_pod_selector(text: str) -> str | None:
    """The label selector of a `kubectl wait … pod -l SEL` (None for any other command)."""
    m = re.match(r"^\s*kubectl\s+wait\b.*?-l\s+(\S+)", text)
    return m.group(1) if m and re.search(r"\bpods?\b", text) else None


def wait_race(cmd: Command, state, step: str, earlier: tuple[Command, ...] = (),
              level_pods: set[str] | None = None) -> list[Finding]:
    """A `kubectl wait … pod -l SEL`, looked at the moment it starts. kubectl takes the set of matching
    pods once, at its start: when nothing matches it fails at once; when what matches exists only because
    an earlier command of the same level just created it (the pod UIDs are not in `level_pods`, the pods
    of the namespace when the level began) and no earlier command waited for the Deployment, the wait
    passed by luck — a slower controller, scheduler or node and it fails. A race that passed is still a
    finding; the observed evidence says which way it went this time."""
    sel = wait_pod_selector(cmd.text)
    if sel is None:
        return []
    pods = [p for p in state.core.list_namespaced_pod(state.ns, label_selector=sel).items
            if p.metadata.deletion_timestamp is None]
    if not pods:
        return [Finding(cmd.line, cmd.text, f"the wait starts before any pod matches {sel}: `kubectl wait` fails at "
                        f"once when nothing matches, so it passes only if the pods happen to exist already",
                        "wait on the Deployment instead (`kubectl rollout status deployment/…`) or for the pods to "
                        "exist first", "wait_race", "medium", f"0 pods matched {sel} when the wait started", step)]
    if level_pods is None or any(p.metadata.uid in level_pods for p in pods):
        return []
    k, _, v = sel.partition("=")
    owners = {d.metadata.name for d in state.apps.list_namespaced_deployment(state.ns).items
              if (d.spec.template.metadata.labels or {}).get(k) == v}
    waited = set().union(*(deployments_waited(c) for c in earlier)) if earlier else set()
    if owners and owners <= waited:
        return []
    now = datetime.now(timezone.utc)
    ages = [(now - p.metadata.creation_timestamp).total_seconds() for p in pods if p.metadata.creation_timestamp]
    newest = f"; the newest was {max(0.0, min(ages)):.0f} s old (API time, 1 s resolution)" if ages else ""
    return [Finding(cmd.line, cmd.text, f"the wait found its pods by luck: the {len(pods)} pod(s) matching {sel} when it "
                    f"started did not exist when the level began; an earlier command had just created them and nothing "
                    f"waited for them to exist — a slower controller or node and `kubectl wait` fails at once",
                    f"wait on the Deployment (`kubectl rollout status deployment/{sorted(owners)[0] if owners else '…'}"
                    f"`) before or instead of the wait on pod labels", "wait_race", "medium",
                    f"{len(pods)} pod(s) matched {sel} at the start, all created during this level{newest}", step)]


def removed_deployments(cmd: Command, live: LiveState) -> list[str]:
    """The Deployments a command takes away: a scale to 0, a delete, or a `helm uninstall` of a release
    (its Deployments carry app.kubernetes.io/instance=<release>)."""
    m = re.match(r"^\s*kubectl\s+scale\s+(?:deployment|deploy)\s+([\w.-]+)\s+--replicas=0\b", cmd.text)
    if m:
        return [m.group(1)]
    m = re.match(r"^\s*kubectl\s+delete\s+(?:deployment|deploy)[/ ]([\w.-]+)", cmd.text)
    if m:
        return [m.group(1)]
    m = re.match(r"^\s*helm\s+(?:uninstall|delete)\s+([\w.-]+)", cmd.text)
    if m:
        return [d for d, labels in live.app_labels.items() if labels.get("app.kubernetes.io/instance") == m.group(1)]
    return []


# A command that waits for traffic to move (a pause, or a loop polling until it has): only after one
# is a stack that served users before the switch safe to remove.
TRAFFIC_WAIT = re.compile(r"^\s*(sleep\b|until\b|while\b|for\b|watch\b.*\b(curl|ingress)\b)")


def removes_serving(cmd: Command, live: LiveState, answers: dict[str, int], window_s: float, step: str,
                    serving_at_start: set[str] | None = None, earlier: tuple[Command, ...] = (),
                    switch_lines: set[int] | None = None) -> list[Finding]:
    """A command that takes away a stack users are served by.

    Decided by the procedure, not by the race (so the same drill always gives the same finding): a
    Deployment the Ingress routed to when the step began (`serving_at_start`) is removed before any
    traffic switch, or after one with nothing that waits for traffic to move (`earlier`: the step's
    commands before this one; `switch_lines`: which of them switched traffic). On a cluster whose
    Ingress switches at once the outage may not be seen, but under GKE's load balancer propagation
    (minutes) it is. What users got in the last `window_s` seconds (`answers`: pod -> answers,
    X-Served-By) is the evidence when seen; a stack that was not serving at the start but still
    answers now is found by that evidence alone."""
    serving_at_start = serving_at_start or set()
    switch_lines = switch_lines or set()
    switches = [i for i, c in enumerate(earlier) if c.line in switch_lines]
    waited = bool(switches) and any(TRAFFIC_WAIT.match(c.text) for c in earlier[switches[-1] + 1:])
    out = []
    for dep in removed_deployments(cmd, live):
        pods = re.compile(rf"^{re.escape(dep)}-[a-z0-9]+-[a-z0-9]+$")  # <deployment>-<replicaset hash>-<suffix>
        served = sum(n for pod, n in answers.items() if pods.match(pod))
        by_procedure = dep in serving_at_start and not waited
        if not (by_procedure or served):
            continue
        if not switches:
            why = "no traffic switch comes before it: users are served by it until it is gone"
        elif not waited:
            why = (f"nothing between the traffic switch (line {earlier[switches[-1]].line}) and this command waits "
                   f"for traffic to move: under GKE the load balancer takes minutes to follow an Ingress change")
        else:
            why = "traffic had not moved yet"
        seen = (f"{served} answers from {dep} pods to requests sent in the {window_s:g} s before the command"
                if served else f"not seen on this cluster (its Ingress moved traffic before the command ran); "
                f"{dep} served users when the step began")
        out.append(Finding(cmd.line, cmd.text, f"takes away {dep} while users may still be served by it: {why}",
                           f"wait until traffic has moved (e.g. watch the answers' origin, or wait for the load "
                           f"balancer's propagation time) before removing {dep}", "removes_serving", "high",
                           seen, step))
    return out


def durations(level_commands: tuple[Command, ...], records: list, step: str) -> list[Finding]:
    """A comment's stated duration (「30秒-1分」, "(15–30 min)") against the measured one: the span of the
    consecutive commands under that comment. A one-shot status listing under a "wait until done" comment
    measures the long-running command before it."""
    out = []
    blocks: list[list[int]] = []
    for i, c in enumerate(level_commands):
        if stated_duration(c.comment) is None:
            continue
        if blocks and blocks[-1][-1] == i - 1 and level_commands[i - 1].comment == c.comment:
            blocks[-1].append(i)
        else:
            blocks.append([i])
    for block in blocks:
        first, last = level_commands[block[0]], level_commands[block[-1]]
        mine = [r for r in records if r.line in {level_commands[i].line for i in block}]
        if not mine:
            continue
        measured = max(r.end for r in mine) - min(r.start for r in mine)
        basis = "the command" if len(block) == 1 else f"lines {first.line}-{last.line}"
        i = block[0]
        if len(block) == 1 and re.match(r"^\s*(gcloud\s+\S+\s+operations\s+list|kubectl\s+get)\b", first.text) \
                and i > 0:
            prev = [r for r in records if r.line == level_commands[i - 1].line]
            if prev:
                measured, basis = prev[-1].end - prev[0].start, f"line {level_commands[i - 1].line}, which it waits for"
        lo, hi = stated_duration(first.comment)
        if measured > hi:
            out.append(Finding(first.line, first.text, f"stated {lo:g}-{hi:g} s, took {measured:.1f} s ({basis})",
                               "correct the stated duration (operators plan by it)", "duration", "medium",
                               f"measured {measured:.1f} s", step))
        elif measured < lo:
            out.append(Finding(first.line, first.text, f"stated {lo:g}-{hi:g} s, took {measured:.1f} s here ({basis}); "
                               "the drill cluster may be faster than production", "check the stated duration against "
                               "production (a fidelity profile models it)", "duration", "low",
                               f"measured {measured:.1f} s", step))
    return out
