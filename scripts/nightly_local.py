"""Run the nightly workflow here the way GitHub's runner runs it (issue 22): `scripts/nightly-local.sh`.

Why: the workflow can only be tried on GitHub, once a night. This runs the job's steps of
`.github/workflows/nightly-drill.yml`, in order, read from the file (nothing of it is copied here):

- as the non-root user `runner` with passwordless sudo and sudo's `secure_path` (Ubuntu's), so a
  step that needs `sudo -E env "PATH=$PATH"` and one that forgets it behave as on the runner;
- in a fresh clone of the committed tree at /home/runner/work/rollback-drill/rollback-drill
  (uncommitted changes are not in it, as on GitHub), with `GITHUB_ENV`, `GITHUB_PATH`,
  `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY` files per step, `${{ … }}` expressions of the forms the
  workflow uses, `if:` with success() / always() semantics;
- `uses:` steps emulated: checkout (the clone), setup-python and setup-helm (a tool cache under
  /opt/hostedtoolcache), actions/cache restore (exact key, else restore-keys by prefix, newest first)
  and save (under a new key; an existing key is not overwritten, as GitHub refuses it), upload-artifact
  (a copy under the night's folder). Only the matrix rows of the `local` provider run (kind cannot
  create its node here; its rows are listed as not run); the cache entries of the images and of the
  local provider's Kubernetes build are seeded from this machine's build the first time a key is
  missing (hard links, said in the output), as an earlier night would have saved them, and the Go
  build caches are linked from /var/cache/rollback-drill, so a missed entry rebuilds in minutes;
- `--quick`: one scenario per step (the rewrites are printed with the step), so a night takes minutes.

Each night writes /var/tmp/rollback-drill-nightly/<night>/ (steps' logs, the job summary, artifacts).
`--nights N` runs N nights in a row (the history restored from the night before); `--plant finding`
or `--plant slower` edits the runbook of the last night in place (no line moves) so that the gate must
turn red and name it. Exit 0 when every night's job passed, 1 when one failed, 2 on bad input.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import pwd
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "nightly-drill.yml"
RUNNER = "runner"
HOME = Path("/home") / RUNNER
WORKSPACE = HOME / "work" / "rollback-drill" / "rollback-drill"
TOOLCACHE = Path("/opt/hostedtoolcache")
SECURE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin"  # Ubuntu 24.04's sudoers
BASE_PATH = f"{HOME}/.local/bin:/usr/local/go/bin:{SECURE_PATH}"  # the runner image has Go on its PATH
MACHINE_CACHE = Path(os.environ.get("ROLLBACK_DRILL_CACHE", "/var/cache/rollback-drill"))
STORE = Path("/var/cache/rollback-drill-actions-cache")  # actions/cache entries, one folder per key
NIGHTS = Path("/var/tmp/rollback-drill-nightly")
SCENARIO = "test_level_1_under_a_critical_5xx_storm_meets_its_target_and_the_checklist_holds"
# This machine's network settings (package mirrors, proxies, CA bundle) reach the steps, as the runner
# image's own do; nothing else of root's environment does.
PASS_THROUGH = re.compile(r"^(PIP_\w+|GO(PROXY|SUMDB|NOSUMDB|PRIVATE|FLAGS)|(HTTPS?|NO)_PROXY|(https?|no)_proxy|"
                          r"SSL_CERT_FILE|SSL_CERT_DIR|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE)$")
# --quick: the step name -> (what is rewritten in its script, by what): one scenario per step
QUICK_RUN = {
    "Level 1 drill with the runbook's full 30 min monitoring window (手順5)": ("--monitor 30m", "--monitor 10s"),
    "Mutation testing of Levels 1 and 2": ("bench/mutation_bench.py --parallel 3 --out",
                                           "bench/mutation_bench.py --level 1 --trigger C1 --only delete:5 --out"),
    "Drills under the gke profile (Levels 1, 2, 3)": ("steps/test_fidelity.py --junitxml",
                                                       "steps/test_fidelity.py -k level_1 --junitxml"),
    "Restore benchmark (pg_dump / pg_restore -j at five sizes up to 3.2 GB)": ("restore_bench.py --out",
                                                                       "restore_bench.py --sizes 64,128 --out"),
}
# --plant: one line of the runbook replaced in place (a comment line: no other line moves)
PLANTS = {"finding": ("# 旧環境がまだ残っている場合、スケールアップ", "kubectl get deployment mastodon-web-renamed"),
          "slower": ("# Ingressを旧Serviceに戻す", "sleep 25")}


@dataclass
class Night:
    """One run of the job for one matrix row (the local provider's: `part` names it)."""

    suite: str
    run_id: int
    folder: Path
    results: list[tuple[str, str]] = field(default_factory=list)  # (step name, passed | FAILED | skipped | …)
    env: dict[str, str] = field(default_factory=dict)  # from GITHUB_ENV
    path: list[str] = field(default_factory=list)  # from GITHUB_PATH, newest first
    failed: bool = False


def sh(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), check=check, text=True, **kw)


# ---- the runner: user, sudo, tool cache ------------------------------------------------------------
def ensure_runner() -> None:
    """The user `runner` with passwordless sudo and Ubuntu's secure_path, as on GitHub's image."""
    if shutil.which("sudo") is None:
        sh("apt-get", "install", "-y", "-qq", "sudo", stdout=subprocess.DEVNULL)
    try:
        pwd.getpwnam(RUNNER)
    except KeyError:
        sh("useradd", "--create-home", "--shell", "/bin/bash", RUNNER)
    rule = Path("/etc/sudoers.d/rollback-drill-runner")
    rule.write_text(f'Defaults:{RUNNER} secure_path="{SECURE_PATH}"\n{RUNNER} ALL=(ALL) NOPASSWD:ALL\n')
    rule.chmod(0o440)
    sh("visudo", "-cf", str(rule), stdout=subprocess.DEVNULL)


def ensure_python_toolcache() -> Path:
    """setup-python's result: a Python 3.11 in the tool cache the runner user can run — the system's
    (Debian's python3.11, with venv and ssl); this machine's pyenv build lives under /root, which
    `runner` cannot enter (a copy of it still loads its libpython from there)."""
    system = Path("/usr/bin/python3.11")
    if not system.exists():
        sh("apt-get", "install", "-y", "-qq", "python3.11", "python3.11-venv", stdout=subprocess.DEVNULL)
    dest = TOOLCACHE / "Python" / "3.11" / "x64" / "bin"
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("python", "python3", "python3.11"):
        link = dest / name
        if not (link.is_symlink() and Path(os.readlink(link)) == system):
            link.unlink(missing_ok=True)
            link.symlink_to(system)
    return dest


def ensure_helm_toolcache() -> Path:
    dest = TOOLCACHE / "helm" / "bin"
    dest.mkdir(parents=True, exist_ok=True)
    found = sorted(MACHINE_CACHE.glob("bin/k8s-*/helm"))
    if not found:
        raise SystemExit("nightly-local: no helm in the machine's cache: run 'bash scripts/setup.sh' first")
    shutil.copy2(found[-1], dest / "helm")
    return dest


# ---- expressions -------------------------------------------------------------------------------------
def hash_files(patterns: list[str]) -> str:
    """hashFiles(): the SHA-256 of the files' SHA-256s, in path order (empty string when none match)."""
    files = sorted({f for p in patterns for f in glob.glob(str(WORKSPACE / p), recursive=True)
                    if Path(f).is_file()})
    if not files:
        return ""
    h = hashlib.sha256()
    for f in files:
        h.update(hashlib.sha256(Path(f).read_bytes()).digest())
    return h.hexdigest()


def evaluate(expr: str, ctx: dict[str, str]) -> str:
    """The expression forms the workflow uses: a context value, `a || 'literal'`, hashFiles('…', …)."""
    expr = expr.strip()
    if " || " in expr:
        for part in expr.split(" || "):
            v = evaluate(part, ctx)
            if v:
                return v
        return ""
    m = re.fullmatch(r"'([^']*)'", expr)
    if m:
        return m.group(1)
    m = re.fullmatch(r"hashFiles\((.*)\)", expr)
    if m:
        return hash_files(re.findall(r"'([^']*)'", m.group(1)))
    if expr in ctx:
        return ctx[expr]
    raise SystemExit(f"nightly-local: the workflow uses an expression this emulation does not know: ${{{{ {expr} }}}}")


def substitute(text: str, ctx: dict[str, str]) -> str:
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: evaluate(m.group(1), ctx), text)


def condition(cond: str | None, ctx: dict[str, str], failed: bool) -> bool:
    """`if:` — success() by default; always(); `matrix.part == '…'`; `always() && matrix.x == '…'`."""
    if cond is None:
        return not failed
    c = cond.strip().removeprefix("${{").removesuffix("}}").strip()
    always = c == "always()" or c.startswith("always() && ")
    if always:
        c = c.removeprefix("always()").strip().removeprefix("&&").strip()
        if not c:
            return True
    m = re.fullmatch(r"([\w.-]+)\s*==\s*'([^']*)'", c)
    if m:
        return (always or not failed) and ctx.get(m.group(1)) == m.group(2)
    raise SystemExit(f"nightly-local: the workflow uses a condition this emulation does not know: {cond}")


# ---- uses: -------------------------------------------------------------------------------------------
def _key_dir(key: str) -> Path:
    return STORE / re.sub(r"[^\w.-]", "_", key)


def _link_or_copy(src: str, dst: str) -> None:
    """Cache entries are large (the Kubernetes build: ~700 MB) and never modified: hard links."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True, copy_function=_link_or_copy)


def cache_restore(paths: list[str], key: str, restore_keys: list[str]) -> str:
    """An exact key, else the newest entry whose key starts with a restore-key (GitHub's rule)."""
    hit = _key_dir(key) if _key_dir(key).is_dir() else None
    if hit is None and STORE.is_dir():
        for prefix in restore_keys:
            cands = [d for d in STORE.iterdir() if d.name.startswith(re.sub(r"[^\w.-]", "_", prefix))]
            if cands:
                hit = max(cands, key=lambda d: d.stat().st_mtime)
                break
    if hit is None:
        return f"cache not found for {key}"
    for p in paths:
        src = hit / p
        if src.exists():
            dst = WORKSPACE / p
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                _copy_tree(src, dst)
            else:
                shutil.copy2(src, dst)
    sh("chown", "-R", f"{RUNNER}:{RUNNER}", str(WORKSPACE))
    return f"restored {hit.name}"


def cache_save(paths: list[str], key: str) -> str:
    d = _key_dir(key)
    if d.exists():
        return f"cache entry {key} exists: not saved again (GitHub refuses to overwrite a key)"
    present = [p for p in paths if (WORKSPACE / p).exists()]
    if not present:
        return "nothing to save (no path exists)"
    for p in present:
        src, dst = WORKSPACE / p, d / p
        dst.parent.mkdir(parents=True, exist_ok=True)
        _copy_tree(src, dst) if src.is_dir() else shutil.copy2(src, dst)
    return f"saved {key}: {', '.join(present)}"


def uses(step: dict, ctx: dict[str, str], night: Night) -> tuple[bool, str]:
    action = step["uses"].split("@")[0]
    w = {k: substitute(str(v), ctx) for k, v in (step.get("with") or {}).items()}
    lines = lambda v: [x.strip() for x in v.splitlines() if x.strip()]  # noqa: E731
    if action == "actions/checkout":
        return True, f"the committed tree of {ROOT} cloned to {WORKSPACE}"
    if action == "actions/setup-python":
        night.path.insert(0, str(ensure_python_toolcache()))
        return True, f"python {w.get('python-version')} from {TOOLCACHE}/Python"
    if action == "azure/setup-helm":
        night.path.insert(0, str(ensure_helm_toolcache()))
        return True, f"helm from {TOOLCACHE}/helm (this machine's pinned build)"
    if action == "helm/kind-action":
        return True, "skipped: the local provider replaces kind here (kind cannot create its node on this machine)"
    if action == "actions/cache/restore":
        return True, cache_restore(lines(w["path"]), w["key"], lines(w.get("restore-keys", "")))
    if action == "actions/cache/save":
        return True, cache_save(lines(w["path"]), w["key"])
    if action == "actions/upload-artifact":
        dest = night.folder / "artifacts" / w["name"]
        src = WORKSPACE / w["path"]
        if src.exists():
            shutil.copytree(src, dest, dirs_exist_ok=True)
        return True, f"copied {w['path']} to {dest}"
    return False, f"no emulation for {step['uses']}"


# ---- run: --------------------------------------------------------------------------------------------
def run(step: dict, ctx: dict[str, str], job_env: dict[str, str], night: Night, quick: bool, log: Path) -> bool:
    script = substitute(step["run"], ctx)
    name = step.get("name", "")
    if quick and name in QUICK_RUN:
        old, new = QUICK_RUN[name]
        if old not in script:
            raise SystemExit(f"nightly-local: --quick expects '{old}' in step '{name}': the workflow changed")
        script = script.replace(old, new)
        print(f"    quick: {old!r} -> {new!r}")
    temp = HOME / "work" / "_temp"
    files = {k: temp / f"{k.lower()}_{abs(hash(name)) % 10**8}" for k in
             ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")}
    for f in files.values():
        f.write_text("")
    body = temp / f"step_{abs(hash(name)) % 10**8}.sh"
    body.write_text(script)
    sh("chown", "-R", f"{RUNNER}:{RUNNER}", str(temp))
    network = {k: v for k, v in os.environ.items() if PASS_THROUGH.match(k)}  # this machine's package mirrors
    env = {**network, "HOME": str(HOME), "USER": RUNNER, "LANG": "C.UTF-8", "CI": "true", "GITHUB_ACTIONS": "true",
           "RUNNER_TEMP": str(temp), "GITHUB_WORKSPACE": str(WORKSPACE), "GITHUB_RUN_ID": str(night.run_id),
           "PATH": ":".join([*night.path, BASE_PATH]), **job_env, **night.env,
           **{k: substitute(str(v), ctx) for k, v in (step.get("env") or {}).items()},
           **{k: str(v) for k, v in files.items()}}
    cmd = ["sudo", "-u", RUNNER, "env", "-i", *[f"{k}={v}" for k, v in env.items()],
           "bash", "--noprofile", "--norc", "-eo", "pipefail", str(body)]
    with log.open("a") as out:
        out.write(f"\n===== {name} =====\n{script}\n-----\n")
        out.flush()
        p = subprocess.run(cmd, cwd=WORKSPACE, stdout=out, stderr=subprocess.STDOUT)
    for line in files["GITHUB_ENV"].read_text().splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            night.env[k] = v
    night.path[:0] = [p_ for p_ in reversed(files["GITHUB_PATH"].read_text().splitlines()) if p_]
    summary = files["GITHUB_STEP_SUMMARY"].read_text()
    if summary:
        with (night.folder / "summary.md").open("a") as s:
            s.write(summary)
    return p.returncode == 0


# ---- one night -------------------------------------------------------------------------------------------
def fresh_workspace(plant: str | None) -> None:
    if WORKSPACE.exists():
        sh("sudo", "-u", RUNNER, "true")  # the user exists
        shutil.rmtree(WORKSPACE.parent.parent)  # work/ (workspace and _temp), as on a fresh VM
    WORKSPACE.parent.mkdir(parents=True)
    sh("git", "clone", "-q", "--no-hardlinks", str(ROOT), str(WORKSPACE))
    (HOME / "work" / "_temp").mkdir()
    cache = WORKSPACE / ".cache" / "rollback-drill"
    cache.mkdir(parents=True)
    for part in ("src", "gocache", "gopath", "containerd-root"):  # Go build caches (bin/ and images/ come from
        # the night's cache restore, tools/ is the workflow's own)
        if (MACHINE_CACHE / part).exists():
            (cache / part).symlink_to(MACHINE_CACHE / part)
    if plant:
        rb = WORKSPACE / "fixtures" / "runbook" / "rollback-runbook.ja.md"
        old, new = PLANTS[plant]
        text = rb.read_text(encoding="utf-8")
        if text.count(old) != 1:
            raise SystemExit(f"nightly-local: --plant {plant}: the line '{old}' is not in the runbook once")
        rb.write_text(text.replace(old, new), encoding="utf-8")
        print(f"  planted ({plant}): '{old}' -> '{new}' in {rb.relative_to(WORKSPACE)} (no line moved)")
    sh("chown", "-R", f"{RUNNER}:{RUNNER}", str(HOME / "work"))


def seed_build_caches(ctx: dict[str, str], job: dict) -> None:
    """The first night here would rebuild the debootstrap images and the Kubernetes build (tens of
    minutes): a restore step's missing entry for a path under .cache/rollback-drill/ is seeded from this
    machine's build of it, once, as an earlier night would have saved it."""
    for step in job["steps"]:
        if not step.get("uses", "").startswith("actions/cache/restore"):
            continue
        path = str(step["with"]["path"]).strip()
        if not path.startswith(".cache/rollback-drill/") or not condition(step.get("if"), ctx, False):
            continue
        key = substitute(step["with"]["key"], ctx)
        d, built = _key_dir(key), MACHINE_CACHE / path.removeprefix(".cache/rollback-drill/")
        if not d.exists() and built.is_dir():
            _copy_tree(built, d / path)
            print(f"  cache entry {key} seeded from {built}")


def night(job: dict, suite: str, quick: bool, plant: str | None, inputs: dict[str, str]) -> Night:
    run_id = int(time.time())
    n = Night(suite, run_id, NIGHTS / f"{time.strftime('%Y%m%dT%H%M%S')}-local-{suite}")
    n.folder.mkdir(parents=True)
    fresh_workspace(plant)
    ctx = {"matrix.provider": "local", "matrix.part": suite, "github.run_id": str(run_id), "github.run_attempt": "1",
           "github.workspace": str(WORKSPACE), **{f"inputs.{k}": v for k, v in inputs.items()}}
    job_env = {k: substitute(str(v), ctx) for k, v in (job.get("env") or {}).items()}
    seed_build_caches(ctx, job)
    log = n.folder / "steps.log"
    for step in job["steps"]:
        name = step.get("name") or step.get("uses", "").split("@")[0]
        if not condition(step.get("if"), ctx, n.failed):
            n.results.append((name, "skipped"))
            continue
        t0 = time.monotonic()
        print(f"  [{suite}] {name} …", flush=True)
        if "uses" in step:
            ok, said = uses(step, ctx, n)
            print(f"    {said}")
        else:
            ok = run(step, ctx, job_env, n, quick, log)
        took = time.monotonic() - t0
        n.results.append((name, f"{'passed' if ok else 'FAILED'} in {took:.0f} s"))
        print(f"    {'passed' if ok else 'FAILED'} in {took:.0f} s", flush=True)
        if not ok:
            n.failed = True
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one scenario per step")
    ap.add_argument("--nights", type=int, default=1, help="nights in a row (the history carried over)")
    ap.add_argument("--part", action="append", dest="suite", choices=["drills", "monitoring", "fidelity"],
                    help="the local provider's job(s) to run (default: every part the workflow lists)")
    ap.add_argument("--plant", choices=sorted(PLANTS), help="a change the last night's gate must catch")
    ap.add_argument("--runbook", default="", help="the workflow's `runbook` input")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("nightly-local: run as root (it creates the runner user and its sudo rule)", file=sys.stderr)
        return 2
    if args.nights < 1:
        print("nightly-local: --nights must be 1 or more", file=sys.stderr)
        return 2
    wf = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    job = wf["jobs"]["drill"]
    matrix = job["strategy"]["matrix"]
    suites = args.suite or list(matrix["part"])
    if "local" not in matrix["provider"]:
        print("nightly-local: the workflow has no `local` provider row to run here", file=sys.stderr)
        return 2
    print(f"nightly-local: the local provider's rows ({', '.join(suites)}); not run here: "
          f"{', '.join(p for p in matrix['provider'] if p != 'local')} (kind cannot create its node on this machine)")
    inputs = {"runbook": args.runbook, "pytest-args": f"-k {SCENARIO}" if args.quick else ""}
    ensure_runner()
    STORE.mkdir(parents=True, exist_ok=True)
    NIGHTS.mkdir(parents=True, exist_ok=True)
    done: list[Night] = []
    for i in range(1, args.nights + 1):
        for suite in suites:
            print(f"night {i}/{args.nights}, {suite}{' (quick)' if args.quick else ''}", flush=True)
            done.append(night(job, suite, args.quick, args.plant if i == args.nights else None, inputs))
    print()
    for n in done:
        print(f"{n.folder.name}: {'FAILED' if n.failed else 'passed'} — summary {n.folder / 'summary.md'}, "
              f"log {n.folder / 'steps.log'}")
        for name, what in n.results:
            if not what.startswith("passed") and what != "skipped":
                print(f"  {name}: {what}")
    return 1 if any(n.failed for n in done) else 0


if __name__ == "__main__":
    raise SystemExit(main())
