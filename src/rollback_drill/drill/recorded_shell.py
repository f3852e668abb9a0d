"""The operator's shell on a game day: a real bash in a tmux session, every command recorded.

Why tmux: a person attaches to it (`tmux -S SOCKET attach`) and works as in any terminal; a scripted
operator (`--operator-script`) is typed into the very same session with `tmux send-keys`, so both go
through the same shell, the same recording and the same Ctrl-C. The session lives on a private socket
in the run's folder (no other tmux server is touched).

How a command is recorded: bash's DEBUG trap writes `start EPOCH OFFSET BASE64(COMMAND)` before the
first simple command of a typed line, PROMPT_COMMAND writes `end EPOCH OFFSET EXIT` when the prompt
comes back; OFFSET is the size of the pane's transcript (`tmux pipe-pane`) at that moment, so each
command's output is the transcript between its two offsets. Times are the machine's clock; the
caller maps them to the drill's timeline. Output goes through the drill's redaction before it is
kept anywhere (secrets never reach the evidence, whatever the operator prints).

The pane's copy is written by a tap (`PANE_TAP`: what `cat >>` did, plus the time each chunk arrived),
so the game day also leaves a terminal recording (`recording()`: asciicast v2, `asciinema play`): the
operator's side as it happened, at its own pace, redacted like the transcript.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rollback_drill.untrusted import write_private

PROMPT_START = "[game day "  # how the shell's prompt begins (PS1 below): a prompt line is not output
RC = r"""
# rollback-drill game day: this shell is recorded (commands, times, exit codes, output)
[ -f /etc/bash.bashrc ] && . /etc/bash.bashrc
export KUBECONFIG={kubeconfig}
export PATH={path}
{exports}
cd {workdir}
PS1='[game day {namespace}] \w\$ '
unset HISTFILE  # history stays in memory (`history 1` reads it); nothing is written at exit
__rd_log={log}
__rd_pane={pane}
__rd_in=
__rd_size() {{ stat -c %s "$__rd_pane" 2>/dev/null || echo 0; }}
__rd_pre() {{
  [ -n "$__rd_in" ] && return
  [ -n "$COMP_LINE" ] && return
  case "$BASH_COMMAND" in __rd_*) return;; esac
  __rd_in=1
  local c; c=$(HISTTIMEFORMAT= history 1 | sed -e 's/^ *[0-9]* *//')
  printf 'start %s %s %s\n' "$(date +%s.%N)" "$(__rd_size)" "$(printf '%s' "$c" | base64 -w0)" >> "$__rd_log"
}}
__rd_post() {{
  local ec=$?
  if [ -n "$__rd_in" ]; then
    printf 'end %s %s %s\n' "$(date +%s.%N)" "$(__rd_size)" "$ec" >> "$__rd_log"
  fi
  __rd_in=
}}
PROMPT_COMMAND=__rd_post
trap '__rd_pre' DEBUG
{hint}"""
# `gameday --hints`: the shell's `hint` prints the step the harness last read from the cluster
HINT_FUNCTION = "hint() {{ cat {file} 2>/dev/null || echo 'no hint yet: the failure has not been alerted'; }}\n"

CURL_SHIM = """#!/bin/bash
# the game day's curl: the runbook's production URL goes to the drill's Ingress (with its Host header),
# never to production
args=(); host=0
for a in "$@"; do
  if [[ "$a" == https://{prod}* ]]; then args+=("{ingress}${{a#https://{prod}}}"); host=1; else args+=("$a"); fi
done
if (( host )); then exec {real} -sS -H {host_header} "${{args[@]}}"; else exec {real} "${{args[@]}}"; fi
"""


# tmux pipe-pane's reader: the pane's bytes appended to PANE as they come (unbuffered, as `cat >>` did:
# the shell's hooks read its size as the command's offset), and "EPOCH SIZE" per chunk to TIMING.
PANE_TAP = """import os, sys, time
pane = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
size = os.fstat(pane).st_size
with open(sys.argv[2], "a", buffering=1) as timing:
    while True:
        b = os.read(0, 65536)
        if not b:
            break
        os.write(pane, b)
        size += len(b)
        timing.write(f"{time.time():.3f} {size}\\n")
"""


@dataclass
class ShellCommand:
    """One command typed at the prompt: machine-clock times, exit code (None while it runs), output."""

    text: str
    start: float
    end: float | None
    exit_code: int | None
    output: str


class RecordedShell:
    def __init__(self, folder: Path, workdir: Path, env: dict[str, str], namespace: str,
                 redact: Callable[[str], str], production_host: str = "", ingress_url: str = "",
                 served_host: str = "", hints: bool = False) -> None:
        self.folder = folder
        self.hint_file = folder / "hint.txt" if hints else None  # refreshed by the game day while it runs
        self.folder.mkdir(parents=True, exist_ok=True)
        # a Unix socket path holds at most 107 bytes: a deep reports folder (a CI workspace, a pytest-xdist
        # worker's tmp dir) would make tmux fail to start, so the socket lives in a short private folder
        self._socket_dir = Path(tempfile.mkdtemp(prefix="rd-gameday-"))  # 0700
        self.socket = self._socket_dir / "tmux.sock"
        self.log = folder / "commands.log"
        self.pane = folder / "pane.log"
        self.timing = folder / "pane.timing"
        self.session = "gameday"
        self.redact = redact
        self.workdir, self.env, self.namespace = workdir, env, namespace
        self.production_host, self.ingress_url, self.served_host = production_host, ingress_url, served_host

    # ---- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        if shutil.which("tmux") is None:
            raise RuntimeError("tmux is missing: run 'bash scripts/setup.sh' (the game day's shell runs in tmux)")
        for f in (self.log, self.pane, self.timing):
            f.write_text("")
        path = self.env.get("PATH", os.environ.get("PATH", ""))
        if self.production_host and self.ingress_url:
            shims = self.folder / "shims"
            shims.mkdir(exist_ok=True)
            real = shutil.which("curl", path=path) or "/usr/bin/curl"
            curl = shims / "curl"
            curl.write_text(CURL_SHIM.format(prod=self.production_host, ingress=self.ingress_url, real=shlex.quote(real),
                                             host_header=shlex.quote(f"Host: {self.served_host or self.production_host}")))
            curl.chmod(0o755)
            path = f"{shims}{os.pathsep}{path}"
        # only what the runbook's tools need (helm's folders, the Cloud SQL stand-in's settings); the rest of the
        # shell's environment is the tmux server's, i.e. the facilitator's own
        keep = {k: v for k, v in self.env.items() if k.startswith(("HELM_", "ROLLBACK_DRILL_"))}
        rc = self.folder / "bashrc"
        write_private(rc, RC.format(kubeconfig=shlex.quote(self.env.get("KUBECONFIG", "")), path=shlex.quote(path),
                                exports="\n".join(f"export {k}={shlex.quote(v)}" for k, v in keep.items()
                                                  if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k)),
                                workdir=shlex.quote(str(self.workdir)), namespace=self.namespace,
                                log=shlex.quote(str(self.log)),
                                pane=shlex.quote(str(self.pane)),
                                hint=HINT_FUNCTION.format(file=shlex.quote(str(self.hint_file)))
                                if self.hint_file else ""))
        self._tmux("new-session", "-d", "-s", self.session, "-x", "200", "-y", "50",
                   f"bash --noprofile --rcfile {shlex.quote(str(rc))} -i")
        self._tmux("pipe-pane", "-o", "-t", self.session, " ".join(shlex.quote(a) for a in (
            sys.executable, "-c", PANE_TAP, str(self.pane), str(self.timing))))
        self._wait(lambda: "[game day" in self.screen(), 10, "the operator's shell did not show its prompt")

    def alive(self) -> bool:
        return self._tmux("has-session", "-t", self.session, check=False).returncode == 0

    def close(self) -> None:
        """End the session and remove everything raw it left (the unredacted pane log, the command log, rc
        file, shims, socket; bash keeps no history file): what stays is what the caller kept, redacted."""
        self._tmux("kill-server", check=False)
        time.sleep(0.3)  # the shell's last prompt hook, if it was mid-write, has run by now
        for name in ("pane.log", "pane.timing", "commands.log", "bashrc", "hint.txt"):
            (self.folder / name).unlink(missing_ok=True)
        shutil.rmtree(self.folder / "shims", ignore_errors=True)
        shutil.rmtree(self._socket_dir, ignore_errors=True)

    # ---- typing (the scripted operator; a person types themselves) -----------------------------
    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", self.session, "-l", text)
        self._tmux("send-keys", "-t", self.session, "Enter")

    def ctrl_c(self) -> None:
        self._tmux("send-keys", "-t", self.session, "C-c")

    def say(self, line: str) -> None:
        """A line in the operator's terminal (the pager's alert), without typing into their prompt."""
        tty = self._tmux("display-message", "-p", "-t", self.session, "#{pane_tty}", check=False).stdout.strip()
        if tty:
            try:
                with open(tty, "w") as t:
                    t.write(f"\r\n\a{line}\r\n")
            except OSError:
                pass
        self._tmux("display-message", "-t", self.session, line[:180], check=False)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.session, check=False).stdout

    def attach_command(self) -> str:
        return f"tmux -S {shlex.quote(str(self.socket))} attach -t {self.session}"

    # ---- what was recorded ----------------------------------------------------------------------
    def commands(self) -> list[ShellCommand]:
        """Every command typed so far, in order; the last one has no end while it runs.

        A command's output is the pane from its start up to the next command's start, prompt lines
        dropped — not up to its own end marker: tmux copies the terminal into the pane log a moment
        after bash wrote it, and on a busy machine the end marker came first (a `hint`'s whole answer
        went to the next command)."""
        pane = self.pane.read_bytes() if self.pane.exists() else b""
        marks: list[list] = []  # [start time, start offset, text, end time, exit code]
        for raw in (self.log.read_text().splitlines() if self.log.exists() else []):
            parts = raw.split(" ")
            if parts[0] == "start" and len(parts) >= 3:
                text = base64.b64decode(parts[3]).decode(errors="replace") if len(parts) > 3 else ""
                marks.append([float(parts[1]), int(parts[2]), text, None, None])
            elif parts[0] == "end" and marks and marks[-1][3] is None and len(parts) >= 4:
                marks[-1][3], marks[-1][4] = float(parts[1]), int(parts[3])
        out: list[ShellCommand] = []
        for i, (t0, off0, text, t1, code) in enumerate(marks):
            upto = marks[i + 1][1] if i + 1 < len(marks) else len(pane)
            output = "\n".join(ln for ln in _clean(pane[off0:upto].decode(errors="replace")).split("\n")
                               if not ln.startswith(PROMPT_START))
            out.append(ShellCommand(text, t0, t1, code, self.redact(output)))
        return out

    def _counts(self) -> tuple[int, int]:
        """(commands started, commands ended), from the command log alone: the polls below need no
        transcript decoding or redaction, which `commands()` does once at the end."""
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return sum(ln.startswith("start ") for ln in lines), sum(ln.startswith("end ") for ln in lines)

    def idle(self) -> bool:
        """The prompt is back (no command running)."""
        started, ended = self._counts()
        return started == ended

    def wait_idle(self, timeout: float, count: int) -> bool:
        """Until `count` commands have ended, or `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            started, ended = self._counts()
            if ended >= count and started == ended:
                return True
            time.sleep(0.1)
        return False

    def transcript(self) -> str:
        return self.redact(_clean(self.pane.read_text(errors="replace"))) if self.pane.exists() else ""

    def recording(self, title: str = "") -> str:
        """The operator's terminal as an asciicast v2 recording (`asciinema play FILE`), redacted: each line
        of the pane at the time its last byte reached the pane's copy. Escape sequences are dropped (a
        secret split by a colour code would slip past the redaction); when a secret spans lines, so that
        line by line would redact differently from the whole, the recording is one event holding the
        whole redacted text — never a line the transcript would not show. "" when nothing was recorded."""
        pane = self.pane.read_bytes() if self.pane.exists() else b""
        marks = []
        for raw in (self.timing.read_text().splitlines() if self.timing.exists() else []):
            t, _, size = raw.partition(" ")
            marks.append((float(t), int(size)))
        if not pane or not marks:
            return ""
        lines, ends, at = [], [], 0
        for chunk in pane.splitlines(keepends=True):
            at += len(chunk)
            lines.append(_ANSI.sub("", chunk.decode(errors="replace")))
            ends.append(at)
        t0 = marks[0][0]
        redacted = [self.redact(ln) for ln in lines]
        whole = self.redact("".join(lines))
        if "".join(redacted) != whole:
            events = [(marks[-1][0] - t0, whole)]
        else:
            events, k = [], 0
            for text, end in zip(redacted, ends):
                while k < len(marks) - 1 and marks[k][1] < end:
                    k += 1
                t = marks[k][0] - t0
                if events and events[-1][0] == t:
                    events[-1] = (t, events[-1][1] + text)
                else:
                    events.append((t, text))
        head = {"version": 2, "width": 200, "height": 50, "timestamp": int(t0), "title": title}
        return "\n".join([json.dumps(head, ensure_ascii=False)] +
                         [json.dumps([round(t, 3), "o", text], ensure_ascii=False) for t, text in events]) + "\n"

    # ---- internals --------------------------------------------------------------------------------
    def _tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-S", str(self.socket), *args], capture_output=True, text=True, check=check)

    def _wait(self, ok: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ok():
                return
            time.sleep(0.1)
        raise RuntimeError(what)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Za-z0-9]")


def _clean(s: str) -> str:
    """Terminal output as text: escape sequences removed, a line's carriage returns read as its end."""
    return re.sub(r"\r+\n?", "\n", _ANSI.sub("", s))
