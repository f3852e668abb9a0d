"""Game day, the part that needs no cluster: the scripted operator, what the operator's commands
meant against the runbook, the per-person figures and which command an outage follows.

Why it is separate from the engine: a game day is judged from what a person typed and when, the
same way whether the commands came from a person at a recorded shell or from `--operator-script`
typed into it through tmux. Everything here takes plain records (text, start, end, exit code) and
the runbook's Level, so it is tested without a cluster and re-run on a journal.

A scripted operator, one action per line (`#` comments and blank lines ignored):

    +SECONDS COMMAND   think SECONDS after the previous command's prompt came back (the first action:
                       after the alert), then type COMMAND and Enter
    +SECONDS ack       acknowledge the alert, as a pager's "acknowledge" button
    +SECONDS ctrl-c    press Ctrl-C SECONDS after the running command started (ends `watch …`)

Commands are compared by meaning, not by characters: whitespace, flag order, `--replicas=1` /
`--replicas 1`, `-n NS` / `--namespace=NS` (and the drill's own namespace said or not), kubectl's
short names (deploy, svc, ing, po) and `kind/name` / `kind name` are the same command.
"""

from __future__ import annotations

import math
import os
import re
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from rollback_drill.runbook.meaning import OPTIONAL_WORDS, norm, objects_touched
from rollback_drill.runbook.model import Command, RunbookError, read_text
from rollback_drill.sut.application import Application

DEFAULT_NAMESPACE = Application().namespace


# ---- the scripted operator -----------------------------------------------------------------------
class ScriptError(RunbookError):
    """A line of an operator script that cannot be typed: `FILE:LINE: what was expected`."""


@dataclass(frozen=True)
class Action:
    line: int  # in the script file
    think_s: float
    kind: str  # command | ack | ctrl-c
    command: str = ""


_WATCH = re.compile(r"^\s*watch\b")
MAX_THINK_S = 24 * 3600.0  # a longer pause is a typo (a game day is not left running for a day)


def _action(path: str, n: int, raw: str) -> Action:
    """One non-comment line -> an Action, or a ScriptError naming the line and what was expected."""
    s = raw.strip()
    if not s.startswith("+"):
        raise ScriptError(path, n, f"expected '+SECONDS COMMAND' or '+SECONDS ack' (the think time first, e.g. "
                                   f"'+20 kubectl get pods'), got '{s[:80]}'")
    head, _, rest = s[1:].partition(" ")
    head, rest = head.strip(), rest.strip()
    try:
        think = float(head)
    except ValueError:
        raise ScriptError(path, n, f"expected the think time in seconds after '+' (e.g. '+20'), got '+{head[:20]}'") \
            from None
    if not math.isfinite(think) or think < 0:
        raise ScriptError(path, n, f"the think time must be 0 seconds or more, got '+{head}'")
    if think > MAX_THINK_S:
        raise ScriptError(path, n, f"a think time of {think:g} s is over a day: expected seconds, got '+{head}'")
    if not rest:
        raise ScriptError(path, n, f"expected a command (or 'ack') after '+{head}', got nothing")
    if rest.lower() in ("ack", "ctrl-c", "^c"):
        return Action(n, think, "ctrl-c" if rest.lower() != "ack" else "ack")
    if any(ord(c) < 32 and c != "\t" for c in rest):
        raise ScriptError(path, n, "a control character in the command: it would be typed as a key, not as text")
    if rest.endswith("\\"):
        raise ScriptError(path, n, "a continuation line ('\\' at the end): one action per line, join the command")
    try:
        shlex.split(rest)
    except ValueError:
        raise ScriptError(path, n, f"unbalanced quotes in '{rest[:80]}': the shell would wait for the rest of the "
                                   f"command instead of running it") from None
    return Action(n, think, "command", rest)


@dataclass(frozen=True)
class OperatorScript:
    """The scripted operator of `--operator-script FILE`, refused line by line when it cannot be typed."""

    path: str
    actions: tuple[Action, ...]

    @classmethod
    def parse(cls, text: str, path: str | Path = "<operator script>") -> "OperatorScript":
        path = str(path)
        actions: list[Action] = []
        ack_line = 0
        for n, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip() or raw.strip().startswith("#"):
                continue
            a = _action(path, n, raw)
            if a.kind == "ack":
                if ack_line:
                    raise ScriptError(path, n, f"a second 'ack' (the alert was acknowledged at line {ack_line})")
                ack_line = n
            if a.kind == "ctrl-c" and not (actions and actions[-1].kind == "command"):
                raise ScriptError(path, n, "'ctrl-c' ends the command typed just before it: expected a command first")
            actions.append(a)
        if not any(a.kind == "command" for a in actions):
            raise ScriptError(path, 1 if not text.strip() else len(text.splitlines()),
                              "expected at least one '+SECONDS COMMAND' line (the script types no command)")
        for i, a in enumerate(actions):  # a `watch` never gives the prompt back: the script would hang
            if a.kind == "command" and _WATCH.match(a.command) and not (
                    i + 1 < len(actions) and actions[i + 1].kind == "ctrl-c"):
                raise ScriptError(path, a.line, "'watch' never ends by itself: follow it with '+SECONDS ctrl-c'")
        return cls(path, tuple(actions))

    @classmethod
    def read(cls, path: str | Path) -> "OperatorScript":
        p = Path(path)
        return cls.parse(read_text(p, "the operator script", "give the path of the script file", ScriptError), p)

    @property
    def commands(self) -> list[str]:
        return [a.command for a in self.actions if a.kind == "command"]

    def planned(self, t_alert: float, duration_s: Callable[[str], float] = lambda _: 1.0) -> list["OperatorRecord"]:
        """The records this script gives if each command takes `duration_s(command)` (a `watch`: until its
        Ctrl-C): what the tmux driver will type when, and a preview of the figures before a game day."""
        out: list[OperatorRecord] = []
        free_at = t_alert  # when the prompt is back
        for a in self.actions:
            if a.kind == "ctrl-c":
                prev = out[-1]
                t = max(prev.start + a.think_s, prev.start)
                if math.isinf(prev.end) or prev.end > t:
                    out[-1] = OperatorRecord(prev.text, prev.start, t, 130, prev.output, script_line=prev.script_line)
                free_at = out[-1].end
                continue
            t = free_at + a.think_s
            if a.kind == "ack":
                out.append(OperatorRecord("ack", t, t, None, kind="ack", script_line=a.line))
                free_at = t
                continue
            d = math.inf if _WATCH.match(a.command) else max(0.0, duration_s(a.command))
            out.append(OperatorRecord(a.command, t, t + d, 0, script_line=a.line))
            free_at = t + d
        return out


# ---- what the operator did -------------------------------------------------------------------------
@dataclass(frozen=True)
class OperatorRecord:
    """One thing the operator did in the recorded shell: a command (start, end, exit code, output) or
    the acknowledgement of the alert. Times are seconds on the drill's timeline."""

    text: str
    start: float
    end: float
    exit_code: int | None = 0  # None: not known (an ack; a shell that did not report it); 130: Ctrl-C
    output: str = ""
    kind: str = "command"  # command | ack
    script_line: int | None = None  # the operator script's line, for a scripted operator

    @property
    def succeeded(self) -> bool:
        return self.exit_code in (0, None)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["end"] = None if math.isinf(self.end) else self.end
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "OperatorRecord":
        keys = {f for f in cls.__dataclass_fields__}
        d = {k: v for k, v in d.items() if k in keys}
        if d.get("end") is None:
            d["end"] = math.inf
        return cls(**d)


def _records(operator_commands: Sequence[str | OperatorRecord]) -> list[OperatorRecord]:
    """Plain strings are commands in the order typed, with no times and exit codes not known."""
    return [c if isinstance(c, OperatorRecord) else OperatorRecord(c, float(i), float(i), None)
            for i, c in enumerate(operator_commands)]


# ---- normalised command words ----------------------------------------------------------------------
KIND_ALIASES = {"deploy": "deployment", "deployments": "deployment", "deployment.apps": "deployment",
                "deployments.apps": "deployment", "svc": "service", "services": "service", "ing": "ingress",
                "ingresses": "ingress", "ingress.networking.k8s.io": "ingress", "po": "pod", "pods": "pod",
                "cm": "configmap", "configmaps": "configmap", "secrets": "secret", "hpa": "horizontalpodautoscaler",
                "horizontalpodautoscalers": "horizontalpodautoscaler", "rs": "replicaset", "replicasets": "replicaset",
                "sts": "statefulset", "statefulsets": "statefulset", "ds": "daemonset", "daemonsets": "daemonset",
                "ns": "namespace", "namespaces": "namespace", "no": "node", "nodes": "node", "ev": "event",
                "events": "event", "pvc": "persistentvolumeclaim", "jobs": "job", "cj": "cronjob",
                "cronjobs": "cronjob"}
# kubectl options that take a value (`--x v` as well as `--x=v`); any other option is a switch
_KUBECTL_VALUE = {"-n", "--namespace", "-f", "--filename", "-k", "--kustomize", "-l", "--selector", "-o", "--output",
                  "--replicas", "--timeout", "--for", "--tail", "-c", "--container", "--since", "--since-time",
                  "--field-selector", "-p", "--patch", "--type", "--context", "--kubeconfig", "--sort-by",
                  "--current-replicas", "--grace-period", "-L", "--label-columns", "--to-revision", "--revision",
                  "--cluster", "--user", "-s", "--server", "--token", "--as", "--template", "--image",
                  "--max-log-requests", "--request-timeout", "--cascade", "--field-manager", "--dry-run"}
_SHORT_ATTACHED = ("-n", "-f", "-k", "-l", "-o", "-c", "-p", "-L")
_TARGET_FLAGS = {"-f": "file", "--filename": "file", "-k": "kustomization", "--kustomize": "kustomization",
                 "-l": "selector", "--selector": "selector"}
_SUBCOMMAND_VERBS = {"rollout", "config", "auth", "set"}
_KIND_VERBS = {"get", "describe", "scale", "delete", "annotate", "label", "patch", "edit", "wait", "top", "autoscale",
               "expose", "rollout"}
_HELM_ALIASES = {"delete": "uninstall", "del": "uninstall", "un": "uninstall", "ls": "list"}
_HELM_VALUE = {"-n", "--namespace", "--kube-context", "--kubeconfig", "--timeout", "-f", "--values", "--set",
               "--version", "--revision", "-o", "--output", "--max"}


@dataclass(frozen=True)
class Words:
    """A simple command by meaning: `target` is what it acts on (kind/name, file, selector,
    namespace when not the drill's), `args` the rest (options with their values, sorted)."""

    tool: str
    verb: str
    target: tuple[str, ...]
    args: tuple[str, ...]

    @property
    def key(self) -> tuple:
        return self.tool, self.verb, self.target, self.args

    @property
    def subject(self) -> tuple:
        """Same verb and object: what a changed command keeps."""
        return self.tool, self.verb, self.target

    def value(self, option: str) -> str | None:
        for a in self.args:
            if a.startswith(option + "="):
                return a.split("=", 1)[1]
        return None

    def objects(self) -> list["Words"]:
        """One Words per object named (`scale deployment a b` -> one for a, one for b)."""
        named = [t for t in self.target if "/" in t and not t.startswith(("file ", "kustomization ", "selector "))]
        if len(named) < 2:
            return [self]
        rest = tuple(t for t in self.target if t not in named)
        return [Words(self.tool, self.verb, tuple(sorted(rest + (n,))), self.args) for n in named]

    def __str__(self) -> str:
        return " ".join(x for x in (self.tool, self.verb, *self.target, *self.args) if x)


def _tokens(text: str) -> list[str]:
    lex = shlex.shlex(text, posix=True, punctuation_chars=";&|")
    lex.whitespace_split = True
    try:
        return list(lex)
    except ValueError:
        return text.split()


def simple_commands(text: str) -> list[list[list[str]]]:
    """`a && b | c; d` -> [[a], [b, c], [d]]: the simple commands of each pipeline, as a shell reads
    them (quotes respected, comments dropped)."""
    out: list[list[list[str]]] = [[[]]]
    toks = _tokens(text)
    for i, t in enumerate(toks):
        if t in (";", "&&", "||", "&") and not (t == "&" and i and toks[i - 1].endswith(">")):
            out.append([[]])
        elif t == "|":
            out[-1].append([])
        else:
            out[-1][-1].append(t)
    return [[seg for seg in pipe if seg] for pipe in out if any(pipe)]


def _options(words: list[str], value_flags: set[str]) -> tuple[dict[str, list[str]], list[str], list[str]]:
    """(options -> values, positionals, words after `--`), `--x=v`, `--x v` and `-xV` read alike."""
    opts: dict[str, list[str]] = {}
    pos: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w == "--":
            return opts, pos, words[i + 1:]
        if w.startswith("--") and "=" in w:
            k, v = w.split("=", 1)
            opts.setdefault(k, []).append(v)
        elif w in value_flags and i + 1 < len(words):
            opts.setdefault(w, []).append(words[i + 1])
            i += 1
        elif w.startswith("-") and not w.startswith("--") and w[:2] in _SHORT_ATTACHED and len(w) > 2 \
                and w[:2] in value_flags:
            opts.setdefault(w[:2], []).append(w[2:].lstrip("="))
        elif w.startswith("-") and len(w) > 1:
            opts.setdefault(w, []).append("")
        else:
            pos.append(w)
        i += 1
    return opts, pos, []


_LONG = {"-n": "--namespace", "-f": "--filename", "-k": "--kustomize", "-l": "--selector", "-o": "--output",
         "-c": "--container", "-p": "--patch", "-L": "--label-columns", "-A": "--all-namespaces"}


def _path(p: str) -> str:
    return os.path.normpath(p) if p and "://" not in p and p != "-" else p


def _kind(word: str) -> str:
    return ",".join(sorted(KIND_ALIASES.get(k.lower(), k.lower()) for k in word.split(",")))


def _objects(verb: str, pos: list[str]) -> tuple[list[str], list[str]]:
    """(objects, other positionals) of a kubectl verb that names objects by kind and name."""
    if not pos or verb not in _KIND_VERBS:
        return ([] if verb not in ("logs", "exec", "port-forward", "attach", "cp") or not pos
                else [_named(pos[0])]), pos[1:] if verb in ("logs", "exec", "port-forward", "attach") else pos
    if "/" in pos[0]:
        named = [p for p in pos if "/" in p and "=" not in p]
        return [_named(p) for p in named], [p for p in pos if p not in named]
    kind = _kind(pos[0])
    names = [p for p in pos[1:] if "=" not in p and not p.endswith("-")]
    rest = [p for p in pos[1:] if p not in names]
    return ([f"{kind}/{n}" for n in names] or [kind]), rest


def _named(p: str) -> str:
    if "/" not in p:
        return f"pod/{p}"
    k, n = p.split("/", 1)
    return f"{_kind(k)}/{n}"


def _kubectl(words: list[str], namespace: str) -> Words:
    opts, pos, after = _options(words[1:], _KUBECTL_VALUE)
    opts = {_LONG.get(k, k): v for k, v in opts.items()}
    verb = pos.pop(0) if pos else ""
    if verb in _SUBCOMMAND_VERBS and pos:
        verb = f"{verb} {pos.pop(0)}"
    objs, rest = _objects(verb.split()[0] if verb else "", pos)
    target = list(objs)
    ns = (opts.pop("--namespace", None) or [namespace])[-1]
    if ns != namespace:
        target.append(f"namespace {ns}")
    for flag in ("--filename", "--kustomize", "--selector"):
        for v in opts.pop(flag, []):
            kind = _TARGET_FLAGS[flag]
            target.append(f"{kind} {_path(v).rstrip('/') if kind != 'selector' else ','.join(sorted(v.split(',')))}")
    for flag in ("--all", "--all-namespaces"):
        if flag in opts:
            opts.pop(flag)
            target.append(flag)
    args = sorted(f"{k}={v}" if v else k for k, vs in opts.items() for v in vs) + rest
    if after:
        args.append("-- " + " ".join(after))
    return Words("kubectl", verb, tuple(sorted(target)), tuple(args))


def _helm(words: list[str], namespace: str) -> Words:
    opts, pos, _ = _options(words[1:], _HELM_VALUE)
    opts = {_LONG.get(k, k): v for k, v in opts.items()}
    verb = _HELM_ALIASES.get(pos[0], pos[0]) if pos else ""
    target = [f"helm release {p}" for p in pos[1:2]] + [f"chart {p}" for p in pos[2:3]]
    ns = (opts.pop("--namespace", None) or [namespace])[-1]
    if ns != namespace:
        target.append(f"namespace {ns}")
    args = sorted(f"{k}={v}" if v else k for k, vs in opts.items() for v in vs) + pos[3:]
    return Words("helm", verb, tuple(sorted(target)), tuple(args))


def _generic(words: list[str]) -> Words:
    opts, pos, after = _options(words[1:], set())
    # a generic tool's options are not known: a switch followed by a word keeps the word in place
    args = sorted(k for k in opts) + [f"-- {' '.join(after)}"] * bool(after)
    return Words(os.path.basename(words[0]), pos[0] if pos else "", tuple(pos[1:]), tuple(args))


_GCLOUD_GROUP = re.compile(r"^[a-z][a-z0-9-]*$")


def _gcloud(words: list[str]) -> Words:
    """gcloud's command path (`sql backups restore`: three words, after a release track alpha/beta) is its
    verb; what follows — a backup id, an instance — is an argument, so a restore typed with another id
    or "$BACKUP_ID" is the same step changed, not another command."""
    opts, pos, after = _options(words[1:], set())
    depth = 4 if pos and pos[0] in ("alpha", "beta") else 3
    path: list[str] = []
    while pos and len(path) < depth and _GCLOUD_GROUP.match(pos[0]):
        path.append(pos.pop(0))
    args = sorted(f"{k}={v}" if v else k for k, vs in opts.items() for v in vs) + pos + \
        [f"-- {' '.join(after)}"] * bool(after)
    return Words("gcloud", " ".join(path), (), tuple(args))


def words_of(segment: list[str], namespace: str = DEFAULT_NAMESPACE) -> Words | None:
    """One simple command's words by meaning (`watch`/`time` and VAR=value prefixes read through)."""
    w = list(segment)
    while w and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", w[0]):
        w.pop(0)
    prefix, prefix_args = "", []
    while w and w[0] in ("watch", "time", "command"):
        p = w.pop(0)
        if p == "watch":
            while w and w[0].startswith("-"):
                opt = w.pop(0)
                if opt in ("-n", "--interval") and w:
                    opt += "=" + w.pop(0)
                prefix_args.append(opt)
            prefix = "watch "
    if not w:
        return None
    tool = os.path.basename(w[0])
    inner = _kubectl(w, namespace) if tool == "kubectl" else _helm(w, namespace) if tool == "helm" else \
        _gcloud(w) if tool == "gcloud" else _generic(w)
    return Words(prefix + inner.tool, inner.verb, inner.target, tuple(sorted(prefix_args)) + inner.args)


@dataclass(frozen=True)
class Meaning:
    """A whole command line: its pipelines' first commands by meaning, the rest of each pipeline as words."""

    units: tuple[Words, ...]  # the first simple command of each pipeline (`a && b` -> two units)
    filters: tuple[str, ...]  # what each pipeline passes its output through (`| grep -i error`)

    @property
    def key(self) -> tuple:
        return tuple(u.key for u in self.units), self.filters


def meaning(text: str, namespace: str = DEFAULT_NAMESPACE) -> Meaning:
    units, filters = [], []
    for pipe in simple_commands(text):
        first = words_of(pipe[0], namespace)
        if first is None:
            continue
        units.append(first)
        filters.append(" | ".join(" ".join(seg) for seg in pipe[1:]))
    return Meaning(tuple(units), tuple(filters))


# ---- the stacks: whose removal hurts when ----------------------------------------------------------
@dataclass(frozen=True)
class Stacks:
    """The Deployments of the old (Kustomize) and new (Helm) stacks, the Helm release and the files that
    hold the Ingress: what tells "removed the serving stack" from "tidied up the other one"."""

    old: frozenset[str]
    helm: frozenset[str]
    releases: frozenset[str]
    ingress_files: frozenset[str] = frozenset()  # files known to hold an Ingress (else: a path naming "ingress")

    @classmethod
    def of(cls, level_commands: Iterable[Command], app: Application | None = None,
           ingress_files: Iterable[str] = ()) -> "Stacks":
        """The application's names, and what the level itself scales up (old) and down to 0 (Helm)."""
        app = app or Application()
        old, helm, releases = set(app.old_stack), set(app.helm_stack), {app.release}
        for c in level_commands:
            for u in meaning(c.text, app.namespace).units:
                reps = u.value("--replicas")
                names = {t.split("/", 1)[1] for t in u.target if t.startswith("deployment/")}
                if u.tool == "kubectl" and u.verb == "scale" and reps is not None:
                    (helm if reps == "0" else old).update(names)
                if u.tool == "helm" and u.verb == "uninstall":
                    releases |= {t.split(" ", 2)[2] for t in u.target if t.startswith("helm release ")}
        return cls(frozenset(old), frozenset(helm), frozenset(releases), frozenset(_path(f) for f in ingress_files))


# ---- what a command does -----------------------------------------------------------------------------
READ_ONLY_KUBECTL = {"get", "describe", "logs", "top", "explain", "api-resources", "api-versions", "version",
                     "cluster-info", "wait", "rollout status", "rollout history", "auth can-i", "config view",
                     "config get-contexts", "config current-context", "diff", "events"}
READ_ONLY_HELM = {"status", "list", "history", "get", "show", "template", "version", "env", "search"}
READ_ONLY_TOOLS = {"echo", "cat", "less", "more", "ls", "grep", "egrep", "head", "tail", "pwd", "cd", "clear",
                   "history",
                   "date", "whoami", "env", "printenv", "true", "jq", "yq", "wc", "sort", "uniq", "column", "man",
                   "which", "type", "sleep", "exit", "logout", "dig", "nslookup", "ping", "host"}


def _deployments(u: Words) -> set[str]:
    return {t.split("/", 1)[1] for t in u.target if t.startswith("deployment/")}


def switches_traffic(u: Words, stacks: Stacks) -> bool:
    """Applies, replaces, patches or edits an Ingress (a file known to hold one, or one named so)."""
    if u.tool != "kubectl" or u.verb not in ("apply", "replace", "patch", "edit", "create"):
        return False
    files = [t.split(" ", 1)[1] for t in u.target if t.startswith("file ")]
    if stacks.ingress_files:
        if any(f in stacks.ingress_files for f in files):
            return True
    elif any("ingress" in f.lower() for f in files):
        return True
    return any(t == "ingress" or t.startswith("ingress/") for t in u.target)


def _removes(u: Words, stacks: Stacks) -> tuple[set[str], str]:
    """(which stacks a command takes away — "old", "helm", "ingress" — and how, in words)."""
    if u.tool == "helm" and u.verb == "uninstall":
        rel = {t.split(" ", 2)[2] for t in u.target if t.startswith("helm release ")}
        return ({"helm"} if rel & stacks.releases or not rel else set()), "uninstalled the Helm release"
    if u.tool != "kubectl":
        return set(), ""
    deps = _deployments(u)
    if u.verb == "scale" and u.value("--replicas") == "0":
        if "--all" in u.target or (not deps and any(t.startswith("selector ") for t in u.target)):
            return {"old", "helm"}, "scaled every Deployment to 0"
        return _which(deps, stacks), f"scaled {', '.join(sorted(deps))} to 0"
    if u.verb == "delete":
        gone = {"ingress"} if any(t == "ingress" or t.startswith("ingress/") for t in u.target) else set()
        if "--all" in u.target and any(t.startswith("deployment") for t in u.target):
            gone |= {"old", "helm"}
        if any(t.startswith(("file ", "kustomization ")) for t in u.target):
            gone |= {"old"} if any(t.startswith("kustomization ") for t in u.target) else set()
        return gone | _which(deps, stacks), f"deleted {', '.join(u.target)}"
    return set(), ""


def _which(deps: set[str], stacks: Stacks) -> set[str]:
    return ({"old"} if deps & stacks.old else set()) | ({"helm"} if deps & stacks.helm else set())


@dataclass(frozen=True)
class Effect:
    effect: str  # helped | hurt | neutral
    why: str


def effect_of(u: Words, switched: bool, stacks: Stacks, exit_code: int | None) -> Effect:
    """What one command did for the recovery, judged from what it does and whether traffic had already
    been switched back: removing the stack users are served by is the mistake that costs an outage."""
    base = u.tool.replace("watch ", "")
    if (base == "kubectl" and u.verb in READ_ONLY_KUBECTL) or (base == "helm" and u.verb in READ_ONLY_HELM) \
            or base in READ_ONLY_TOOLS or base == "curl" and not set(u.args) & {"-X", "--request", "-d", "--data"}:
        return Effect("neutral", "reads only" if base not in ("exit", "logout") else "ends the shell")
    if exit_code not in (0, None):
        return Effect("neutral", f"failed (exit {exit_code}): assumed to have changed nothing")
    gone, how = _removes(u, stacks)
    if "ingress" in gone:
        return Effect("hurt", f"{how}: removed the route users reach the service by")
    if not switched and "helm" in gone:
        return Effect("hurt", f"removed the serving stack before traffic moved ({how})")
    if switched and "old" in gone:
        return Effect("hurt", f"removed the stack serving users after the switch ({how})")
    if "old" in gone:
        return Effect("hurt", f"took away the stack the rollback brings back ({how})")
    if "helm" in gone:
        return Effect("neutral", f"removed the Helm stack after traffic moved ({how})")
    if switches_traffic(u, stacks):
        return Effect("helped", "switched traffic (the Ingress) back")
    if u.tool == "kubectl" and u.verb == "scale" and _deployments(u) & stacks.old:
        return Effect("helped", f"brought the old stack up ({', '.join(sorted(_deployments(u) & stacks.old))})")
    if u.tool == "kubectl" and u.verb in ("apply", "replace", "create") and \
            any(t.startswith("kustomization ") for t in u.target):
        return Effect("helped", "re-applied the old manifests")
    if u.tool == "kubectl" and u.verb == "rollout restart":
        return Effect("neutral", "restarted pods (a rolling restart keeps serving)")
    if u.tool == "helm" and u.verb == "rollback":
        return Effect("neutral", "rolled the Helm release back: another way back, not the runbook's")
    touched = ", ".join(objects_touched(str(u))) or str(u)
    return Effect("neutral", f"changes {touched}: its effect on the recovery is not judged")


# ---- mapping the operator's commands to the level's steps -----------------------------------------------
@dataclass
class StepOutcome:
    """One command of the level, and what the operator did about it."""

    index: int
    line: int
    text: str
    optional: bool
    alternative_to: int | None
    status: str = "skipped"  # done | changed | out_of_order | skipped | not_needed
    as_written: bool = False
    in_order: bool = True
    by: list[int] = field(default_factory=list)  # operator record indices that did it; the first is timed
    typed: str = ""  # what the operator typed for it (the first attempt)
    note: str = ""


@dataclass
class TypedOutcome:
    """One operator command: which steps it did (if any) and what it did for the recovery."""

    index: int
    text: str
    start: float
    end: float | None
    exit_code: int | None
    role: str  # step | retry | extra
    steps: list[int] = field(default_factory=list)  # level command indices
    effect: str = "neutral"
    why: str = ""
    runbook: str = ""  # an extra that is a command of another part of the runbook (手順1 …)


@dataclass
class StepMapping:
    steps: list[StepOutcome]
    typed: list[TypedOutcome]

    @property
    def fidelity(self) -> float | None:
        """Share of the level's non-optional steps (an "または" pair counted once) done as written, in order."""
        groups: dict[int, list[StepOutcome]] = {}
        for s in self.steps:
            if not s.optional:
                groups.setdefault(s.index if s.alternative_to is None else s.alternative_to, []).append(s)
        if not groups:
            return None
        good = sum(any(s.as_written and s.in_order for s in g) for g in groups.values())
        return round(good / len(groups), 3)

    def first_step_command(self) -> TypedOutcome | None:
        """The decision, for a person: the first command that carries out a step of the level."""
        return next((t for t in self.typed if t.role == "step"), None)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.steps:
            out[s.status] = out.get(s.status, 0) + 1
        for t in self.typed:
            if t.role == "extra":
                out[f"extra_{t.effect}"] = out.get(f"extra_{t.effect}", 0) + 1
        return out

    def to_dict(self) -> dict:
        return {"fidelity": self.fidelity, "counts": self.counts(),
                "steps": [asdict(s) for s in self.steps],
                "typed": [{**asdict(t), "end": None if t.end is None or math.isinf(t.end) else t.end}
                          for t in self.typed]}


def _is_optional(c: Command) -> bool:
    return any(w in norm(c.comment) for w in OPTIONAL_WORDS)


def _match(u: Words, steps: list[tuple[int, Words]], taken: set[int]) -> tuple[int, bool] | None:
    """(step index, as written) for one unit: the same words first, else the same verb and object;
    a step not yet done before one done already (then it is a retry)."""
    for exact in (True, False):
        hits = [i for i, s in steps if (s.key == u.key if exact else s.subject == u.subject)]
        if hits:
            return ([i for i in hits if i not in taken] or hits)[0], exact
    return None


def _in_order(first_by_step: dict[int, int], optional: set[int]) -> set[int]:
    """The steps the operator did in the runbook's order: the longest such chain, a non-optional step
    outweighing every optional one (scaling the Helm stack down before the switch puts the scale-down
    out of order, not the switch)."""
    seq = [s for s, _ in sorted(first_by_step.items(), key=lambda kv: (kv[1], kv[0]))]
    weight = (lambda chain: sum(1 if s in optional else 1000 for s in chain))
    best: list[list[int]] = []
    for s in seq:  # O(n²) heaviest increasing subsequence: a level has a handful of steps
        cands = [chain for chain in best if chain[-1] < s]
        best.append((max(cands, key=weight) if cands else []) + [s])
    return set(max(best, key=weight)) if best else set()


def map_steps(level_commands: Sequence[Command], operator_commands: Sequence[str | OperatorRecord],
              stacks: Stacks | None = None, namespace: str = DEFAULT_NAMESPACE,
              elsewhere: Sequence[tuple[str, Command]] = ()) -> StepMapping:
    """What the operator ran, against the level's commands, by meaning.

    Each level command is done (as written), changed (same verb and object, other arguments), out of
    order, skipped, or not needed (one form of an "または" pair when the other was done). Each operator
    command carries out steps, retries one, or is extra; every command gets helped / hurt / neutral from
    what it does at that moment (extras and out-of-order steps are where that matters).
    `elsewhere`: (where, command) of the runbook's other parts (手順1 …), named on an extra that is one."""
    stacks = stacks or Stacks.of(level_commands)
    records = _records(operator_commands)
    outcomes = [StepOutcome(i, c.line, c.text, _is_optional(c), c.alternative_to) for i, c in enumerate(level_commands)]
    units = [(i, u) for i, c in enumerate(level_commands) for u in meaning(c.text, namespace).units[:1]]
    other = [(where, c, meaning(c.text, namespace)) for where, c in elsewhere]
    typed: list[TypedOutcome] = []
    switched = False
    for r_i, rec in enumerate(records):
        if rec.kind != "command":
            continue
        m = meaning(rec.text, namespace)
        t = TypedOutcome(r_i, rec.text, rec.start, rec.end, rec.exit_code, "extra")
        combined = len(m.units) == 1 and len(m.units[0].objects()) > 1
        effects: list[Effect] = []
        for u in m.units:
            for obj in u.objects():
                _carry_out(obj, t, rec, outcomes, units, combined)
            effects.append(effect_of(u, switched, stacks, rec.exit_code))
            switched = switched or (switches_traffic(u, stacks) and rec.succeeded)
        if t.role == "extra":
            t.runbook = _elsewhere(m, other)
        worst = next((e for kind in ("hurt", "helped", "neutral") for e in effects if e.effect == kind), None)
        if worst is not None:
            t.effect, t.why = worst.effect, "; ".join(dict.fromkeys(e.why for e in effects if e.effect == worst.effect))
        typed.append(t)
    _statuses(outcomes, records)
    _in_order_steps_not_judged(typed, outcomes)
    return StepMapping(outcomes, typed)


def _carry_out(u: Words, t: TypedOutcome, rec: OperatorRecord, outcomes: list[StepOutcome],
               units: list[tuple[int, Words]], combined: bool) -> None:
    """One unit of an operator command against the level: which step it does, as written or changed."""
    hit = _match(u, units, {s.index for s in outcomes if s.by})
    if hit is None:
        return
    idx, exact = hit
    s = outcomes[idx]
    t.role = "retry" if s.by and t.role == "extra" else "step"
    t.steps.append(idx)
    if not s.by:
        s.typed, s.as_written = rec.text, exact and not combined
        s.note = "one command for several steps" if combined else ""
    elif not s.as_written and exact and not combined and rec.succeeded:
        s.as_written = True  # retyped as written after a changed attempt
    s.by.append(t.index)


def _elsewhere(m: Meaning, other: list[tuple[str, Command, Meaning]]) -> str:
    """Where else in the runbook an extra command stands (手順1's status checks …), if anywhere."""
    for where, c, om in other:
        if om.key == m.key:
            return f"{where} line {c.line}"
    for where, c, om in other:
        if [u.subject for u in om.units] == [u.subject for u in m.units]:
            return f"{where} line {c.line} (changed)"
    return ""


def _in_order_steps_not_judged(typed: list[TypedOutcome], outcomes: list[StepOutcome]) -> None:
    """A step done where the runbook puts it is the runbook's doing, not the operator's: Level 2 removes
    the Helm release before traffic moves by design. Only extras and steps out of order are judged."""
    for t in typed:
        if t.role != "extra" and t.effect == "hurt" and all(outcomes[i].in_order for i in t.steps):
            t.effect, t.why = "neutral", f"as the level does ({t.why})"


def _statuses(outcomes: list[StepOutcome], records: list[OperatorRecord]) -> None:
    first = {s.index: min(s.by) for s in outcomes if s.by}
    ordered = _in_order(first, {s.index for s in outcomes if s.optional})
    done_groups = {s.alternative_to if s.alternative_to is not None else s.index for s in outcomes if s.by}
    for s in outcomes:
        if s.by:
            s.in_order = s.index in ordered
            s.status = "done" if s.as_written else "changed"
            if not s.in_order:
                s.status = "out_of_order"
                s.note = _join(s.note, ("done as written" if s.as_written else "changed") + ", "
                               + _where_instead(s, outcomes, first, ordered))
            failed = [i for i in s.by if not records[i].succeeded]
            if failed and len(failed) == len(s.by):
                s.note = _join(s.note, f"every attempt failed (exit {records[failed[-1]].exit_code})")
        elif (s.alternative_to if s.alternative_to is not None else s.index) in done_groups:
            s.status, s.note = "not_needed", "the other form of this 'または' pair was done"


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _where_instead(s: StepOutcome, outcomes: list[StepOutcome], first: dict[int, int], ordered: set[int]) -> str:
    """'before line 45, which the runbook puts first' / 'after line 48, which the runbook puts after it'."""
    later = [o for o in outcomes if o.index in ordered and o.index < s.index and first[o.index] > first[s.index]]
    if later:
        return f"done before line {later[-1].line}, which the runbook puts first"
    earlier = [o for o in outcomes if o.index in ordered and o.index > s.index and first[o.index] < first[s.index]]
    return f"done after line {earlier[0].line}, which the runbook puts after it" if earlier else "out of order"


# ---- per-person figures ----------------------------------------------------------------------------------
@dataclass
class PersonFigures:
    """The figures game-day guides ask for, from the timeline's marks and the operator's records.
    Seconds; None when it did not happen."""

    detect_s: float | None  # inject -> alert
    ack_s: float | None  # alert -> acknowledged
    first_action_s: float | None  # alert -> first command
    decision_s: float | None  # alert -> first command that carries out a step of the level
    decision_command: str
    decision_deadline_s: float  # the runbook's, for the trigger's severity
    allowed_s: float  # what the decision was held to
    deadline_basis: str
    decision_late: bool
    steps: list[dict]  # each level step done: index, line, text, start, end, from_alert_s
    recovery_s: float | None  # decision -> recovered (as `run` measures it)
    target_max_s: float
    within_target: bool | None
    outage_s: float | None  # inject -> recovered: what users lived through
    immediate_allowance_s: float

    def to_dict(self) -> dict:
        return asdict(self)


def _r(x: float | None) -> float | None:
    return None if x is None or math.isinf(x) else round(x, 3)


def person_figures(timeline_marks: dict[str, float], operator_records: Sequence[OperatorRecord], deadline_s: float,
                   immediate_allowance_s: float, target_max_s: float,
                   mapping: StepMapping | None = None) -> PersonFigures:
    """Per-person figures against the severity's deadline and the level's target.

    即座 (deadline 0) cannot be met by a person to the second: it is held to `immediate_allowance_s`,
    the team's acknowledgement target, and the figures say so. The decision is the first command that
    carries out a step of the level (`mapping`); without a mapping, the first command that changes
    something. Marks: inject, alert (else detect), ack (else the operator's ack record), recovered."""
    m = timeline_marks
    t_alert = m.get("alert", m.get("detect"))
    acks = [r.start for r in operator_records if r.kind == "ack"]
    t_ack = m.get("ack", min(acks) if acks else None)
    cmds = [r for r in operator_records if r.kind == "command" and (t_alert is None or r.start >= t_alert)]
    first = cmds[0] if cmds else None
    decision = _decision(operator_records, mapping, t_alert)
    since = (lambda t: None if t is None or t_alert is None else t - t_alert)
    decision_s = since(decision.start if decision else None)
    allowed = deadline_s if deadline_s > 0 else immediate_allowance_s
    basis = (f"the runbook's decision deadline, {deadline_s:g} s" if deadline_s > 0 else
             f"即座 (immediately, 0 s in the runbook): held to the team's acknowledgement target of "
             f"{immediate_allowance_s:g} s (--immediate-allowance)")
    t_decide = decision.start if decision else m.get("decide")
    rec = None if "recovered" not in m or t_decide is None else m["recovered"] - t_decide
    return PersonFigures(
        detect_s=_r(None if t_alert is None or "inject" not in m else t_alert - m["inject"]),
        ack_s=_r(since(t_ack)), first_action_s=_r(since(first.start if first else None)),
        decision_s=_r(decision_s), decision_command=decision.text if decision else "",
        decision_deadline_s=deadline_s, allowed_s=allowed, deadline_basis=basis,
        decision_late=decision_s is None or decision_s > allowed,
        steps=_step_times(mapping, operator_records, t_alert), recovery_s=_r(rec), target_max_s=target_max_s,
        within_target=None if rec is None else rec <= target_max_s,
        outage_s=_r(m["recovered"] - m["inject"] if "recovered" in m and "inject" in m else None),
        immediate_allowance_s=immediate_allowance_s)


def _decision(records: Sequence[OperatorRecord], mapping: StepMapping | None,
              t_alert: float | None) -> OperatorRecord | None:
    if mapping is not None:
        first = mapping.first_step_command()
        return records[first.index] if first is not None else None
    stacks = Stacks.of(())
    for r in records:
        if r.kind != "command" or (t_alert is not None and r.start < t_alert):
            continue
        whys = [effect_of(u, False, stacks, 0).why for u in meaning(r.text).units]
        if any(w not in ("reads only", "ends the shell") for w in whys):
            return r
    return None


def _step_times(mapping: StepMapping | None, records: Sequence[OperatorRecord], t_alert: float | None) -> list[dict]:
    if mapping is None:
        return []
    out = []
    for s in mapping.steps:
        if not s.by:
            continue
        r = records[s.by[0]]
        out.append({"index": s.index, "line": s.line, "text": s.text, "status": s.status, "start": _r(r.start),
                    "end": _r(r.end), "from_alert_s": _r(None if t_alert is None else r.start - t_alert)})
    return out


# ---- which command an outage follows ---------------------------------------------------------------------
@dataclass(frozen=True)
class Attribution:
    t: float  # when the failed-request share rose
    share_before: float
    share: float  # the highest share within the window after the rise
    command: str  # "" when no operator command preceded it
    record: int | None  # index of the operator record
    lag_s: float | None  # from the command's start to the rise

    @property
    def statement(self) -> str:
        head = (f"users' failed requests rose from {self.share_before:.0%} to {self.share:.0%} at {self.t:.1f} s")
        if not self.command:
            return f"{head}: no operator command preceded it"
        return f"{head}: the outage is attributed to `{self.command}` (started {self.lag_s:.1f} s before)"

    def to_dict(self) -> dict:
        return {**asdict(self), "statement": self.statement}


def _share(buckets: Sequence[dict], start: float, end: float, min_requests: int) -> float | None:
    bs = [b for b in buckets if start <= b["t"] < end]
    n = sum(b["requests"] for b in bs)
    return None if n < min_requests else sum(b["failures"] for b in bs) / n


def outage_rises(buckets: Sequence[dict], threshold: float, min_rise: float, lookback_s: float = 5.0,
                 min_requests: int = 3) -> list[tuple[float, float]]:
    """(t, share before) where users' failed-request share rose to `threshold` or more and at least
    `min_rise` above the share of the `lookback_s` before it: the start of an outage, or of a worse one
    (a fault failing 60 % of requests, then nothing answering at all). One rise per `lookback_s`."""
    out: list[tuple[float, float]] = []
    for b in sorted(buckets, key=lambda b: b["t"]):
        if b["requests"] < 1 or (out and b["t"] - out[-1][0] < lookback_s):
            continue
        share = b["failures"] / b["requests"]
        before = _share(buckets, b["t"] - lookback_s, b["t"], min_requests)
        if before is not None and share >= threshold and share - before >= min_rise:
            out.append((b["t"], before))
    return out


def attribution(outage_buckets: Sequence[dict], operator_records: Sequence[OperatorRecord],
                mapping: StepMapping | None = None, threshold: float = 0.5, min_rise: float = 0.25,
                within_s: float = 30.0) -> list[Attribution]:
    """Which operator command each rise of users' failures follows: a command that changes something,
    started before the rise and ended at most `within_s` before it (a command judged `hurt` first, else the
    latest). `outage_buckets`: the journal's load_series ({t, requests, failures}), 0.5 s each."""
    hurt = {t.index for t in mapping.typed if t.effect == "hurt"} if mapping else set()
    stacks = Stacks.of(())
    reads = {i for i, r in enumerate(operator_records) if r.kind == "command" and all(
        effect_of(u, False, stacks, 0).why in ("reads only", "ends the shell") for u in meaning(r.text).units)}
    out = []
    for t_rise, before in outage_rises(outage_buckets, threshold, min_rise):
        cands = [i for i, r in enumerate(operator_records) if r.kind == "command" and i not in reads
                 and r.start <= t_rise and (math.isinf(r.end) or r.end + within_s >= t_rise)]
        cands.sort(key=lambda i: (i in hurt, operator_records[i].start))
        after = [b for b in outage_buckets if t_rise <= b["t"] < t_rise + within_s and b["requests"]]
        peak = max((b["failures"] / b["requests"] for b in after), default=0.0)
        pick = cands[-1] if cands else None
        r = operator_records[pick] if pick is not None else None
        out.append(Attribution(t_rise, round(before, 3), round(peak, 3), r.text if r else "", pick,
                               None if r is None else round(t_rise - r.start, 3)))
    return out


# ---- everything the evidence says about one person's game day ---------------------------------------------
def evaluate(level, deadline_s: float, operator_records: Sequence[OperatorRecord], timeline_marks: dict[str, float],
             load_series: Sequence[dict], immediate_allowance_s: float, operator: str = "",
             stacks: Stacks | None = None, elsewhere: Sequence[tuple[str, Command]] = (),
             namespace: str = DEFAULT_NAMESPACE) -> dict:
    """The `gameday` part of a scenario in the journal (what evidence/debrief.py renders): mapping,
    figures and attributions of one operator against one Level."""
    stacks = stacks or Stacks.of(level.commands)
    mapping = map_steps(level.commands, operator_records, stacks, namespace, elsewhere)
    figures = person_figures(timeline_marks, operator_records, deadline_s, immediate_allowance_s,
                             level.target_max_s, mapping)
    return {"operator": operator, "immediate_allowance_s": immediate_allowance_s,
            "level": {"number": level.number, "title": level.title, "target_min_s": level.target_min_s,
                      "target_max_s": level.target_max_s},
            "mapping": mapping.to_dict(), "figures": figures.to_dict(),
            "attributions": [a.to_dict() for a in attribution(load_series, operator_records, mapping)],
            "records": [r.to_dict() for r in operator_records]}
