"""A code block's commands as a shell reads them.

- A plain shell block (```bash, ```sh, ```, ~~~, an indented block): every line that is not a
  comment is a command; `# …` lines are comments, kept as the context (label) of the commands
  below them until a blank line; backslash continuations and heredocs are joined.
- A block written as a console session (it shows `$ ` prompts, or its info string says console /
  shell-session / terminal): only prompted lines are commands — the `$ ` prompt (and a `> `
  continuation prompt) is stripped and listed as a rewrite on the command; lines without a prompt
  are the commands' pasted output and never run; in a `console` block with no `$ ` prompt at all,
  `# kubectl …` is a root prompt.
Nothing is guessed: what was removed is said on the command (`Command.rewrites`).
"""

from __future__ import annotations

import re

from rollback_drill.runbook import meaning as M

CONSOLE_INFOS = ("console", "shell-session", "sh-session", "shellsession", "terminal", "session", "pycon-shell")
_PROMPT = re.compile(r"^(?P<prompt>(?:\([\w.-]+\)\s*)?(?:[\w.-]+@[\w.-]+(?::[^\s$#]*)?\s*)?\$)(?:\s+|$)(?P<rest>.*)$")
_CONT = re.compile(r"^>(?:\s|$)(?P<rest>.*)$")
_HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][\w]*)\1")
_TOOLS = ("kubectl", "helm", "gcloud", "curl", "wget", "watch", "psql", "pg_restore", "pg_dump", "mysql", "export",
          "sleep", "echo", "cat", "ls", "cd", "kustomize", "bundle", "rails", "systemctl", "docker", "sudo")


def is_console(info: str, lines: list[tuple[int, str]]) -> bool:
    lang = (info.split() or [""])[0].lower().strip("{}.")
    if lang in CONSOLE_INFOS:
        return True
    return any(_PROMPT.match(raw.strip()) and _PROMPT.match(raw.strip()).group("rest") for _, raw in lines)


def parse_block(info: str, block: list[tuple[int, str]]):
    """(commands, manual steps) of one code block; commands are model.Command."""
    from rollback_drill.runbook.model import Command
    console = is_console(info, block)
    lang = (info.split() or [""])[0].lower().strip("{}.")
    dollar = any(_PROMPT.match(raw.strip()) for _, raw in block)
    root_prompts = console and lang in CONSOLE_INFOS and not dollar

    commands: list[Command] = []
    manual: list[str] = []
    comment = ""
    alt_pending = False
    pending: dict | None = None  # the command being joined: text parts, line, rewrites, heredoc end

    def emit() -> None:
        nonlocal pending, alt_pending
        if pending is None:
            return
        alt_to = len(commands) - 1 if pending["alt"] and commands else None
        commands.append(Command(text=pending["text"], line=pending["line"], comment=pending["comment"],
                                alternative_to=alt_to, rewrites=tuple(pending["rewrites"])))
        pending = None

    def start(text: str, ln: int, rewrites: list[str]) -> None:
        nonlocal pending, alt_pending
        pending = {"text": "", "line": ln, "comment": comment, "alt": alt_pending, "rewrites": rewrites,
                   "heredoc": None, "cont": False}
        alt_pending = False
        add(text, ln)

    def add(text: str, ln: int, raw: str | None = None) -> None:
        """Add one line to the pending command: a heredoc body line as written, else joined."""
        nonlocal pending
        if pending["heredoc"] is not None:
            pending["text"] += "\n" + (raw if raw is not None else text)
            if (raw if raw is not None else text).strip() == pending["heredoc"]:
                pending["heredoc"] = None
            return
        s = text.strip()
        cont = s.endswith("\\")
        part = s[:-1].rstrip() if cont else s
        pending["text"] = f"{pending['text']} {part}".strip() if pending["text"] else part
        m = _HEREDOC.search(part)
        if m:
            pending["heredoc"] = m.group(2)
        pending["cont"] = cont

    def open_() -> bool:
        return pending is not None and (pending["cont"] or pending["heredoc"] is not None)

    for ln, raw in block:
        s = raw.strip()
        if open_():
            if console:
                m = _CONT.match(s)
                if m:
                    pending["rewrites"].append(f"line {ln}: continuation prompt '>' removed")
                    add(m.group("rest"), ln, re.sub(r"^\s*>\s?", "", raw))
                    if not open_():
                        emit()
                    continue
            add(s, ln, raw)
            if not open_():
                emit()
            continue
        emit()
        if not s:
            comment = ""
            continue
        if console:
            m = _PROMPT.match(s)
            if m and m.group("rest"):
                start(m.group("rest"), ln, [f"line {ln}: prompt '{m.group('prompt')} ' removed"])
                if not open_():
                    emit()
                continue
            if s.startswith("#") and root_prompts:
                rest = s[1:].strip()
                first = (rest.split() or [""])[0]
                if first in _TOOLS and rest.isascii():
                    start(rest, ln, [f"line {ln}: root prompt '#' removed"])
                    if not open_():
                        emit()
                    continue
            if not s.startswith("#"):
                if commands:
                    commands[-1] = _with_output(commands[-1], ln)
                continue
        if s.startswith("#"):
            text = s.lstrip("#").strip()
            low = M.norm(text)
            if any(w in low for w in M.MANUAL_WORDS):
                manual.append(text)
            if any(w in low for w in M.ALTERNATIVE_WORDS) or low.startswith("or "):
                alt_pending = True
            comment = text
            continue
        start(s, ln, [])
        if not open_():
            emit()
    emit()
    return commands, manual


def _with_output(cmd, ln: int):
    from dataclasses import replace
    return replace(cmd, rewrites=cmd.rewrites + (f"line {ln}: output shown below the command, not run",))
