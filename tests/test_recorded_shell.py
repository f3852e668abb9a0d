"""The operator's recorded shell (tmux): what is typed is recorded with its exit code and output,
Ctrl-C belongs to the operator's command, output is redacted, the production URL never leaves the
machine, and nothing raw stays behind. Needs tmux (scripts/setup.sh), no cluster."""

import json
import time

from rollback_drill.drill.recorded_shell import RecordedShell


def test_commands_exit_codes_ctrl_c_redaction_and_cleanup(tmp_path):
    shell = RecordedShell(tmp_path / "shell", tmp_path, {"PATH": "/usr/bin:/bin", "KUBECONFIG": "/nonexistent"},
                          "mastodon", lambda s: s.replace("s3cr3t", "[REDACTED]"), "ykzts.technology",
                          "http://127.0.0.1:9", "ykzts.technology")
    shell.start()
    try:
        shell.type("echo token s3cr3t")
        assert shell.wait_idle(10, 1)
        shell.type("false")
        assert shell.wait_idle(10, 2)
        shell.type("sleep 30")
        time.sleep(1)
        shell.ctrl_c()
        assert shell.wait_idle(10, 3)
        shell.type("type curl; pwd")
        assert shell.wait_idle(10, 4)
        cmds = shell.commands()
    finally:
        transcript = shell.transcript()
        shell.close()
    assert [(c.text, c.exit_code) for c in cmds] == [("echo token s3cr3t", 0), ("false", 1), ("sleep 30", 130),
                                                     ("type curl; pwd", 0)]
    assert cmds[0].output.strip() == "token [REDACTED]" and "s3cr3t" not in transcript
    assert 0.5 < cmds[2].end - cmds[2].start < 5  # ended by the Ctrl-C, not by its 30 s
    assert f"curl is {tmp_path / 'shell' / 'shims' / 'curl'}" in cmds[3].output  # the drill's curl first
    assert str(tmp_path) in cmds[3].output  # started in the runbook's working directory
    assert sorted(p.name for p in (tmp_path / "shell").iterdir()) == []  # raw logs, rc file, socket: gone


def test_the_production_url_goes_to_the_drills_ingress(tmp_path):
    """curl https://<production host>/… is rewritten to the drill's Ingress with its Host header."""
    import http.server
    import threading
    seen: list[tuple[str, str]] = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            seen.append((self.path, self.headers.get("Host")))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.handle_request, daemon=True).start()
    shell = RecordedShell(tmp_path / "shell", tmp_path, {"PATH": "/usr/bin:/bin"}, "mastodon", lambda s: s,
                          "ykzts.technology", f"http://127.0.0.1:{srv.server_port}")
    shell.start()
    try:
        shell.type("curl -I https://ykzts.technology/health")
        assert shell.wait_idle(15, 1)
        (c,) = shell.commands()
    finally:
        shell.close()
        srv.server_close()
    assert c.exit_code == 0 and "200" in c.output and seen == [("/health", "ykzts.technology")]


def test_the_recording_replays_the_operators_terminal_at_its_pace_redacted(tmp_path):
    """shell/session.cast (asciicast v2): the typed commands and their output in order, each at the time it
    reached the terminal (a 2 s think time is a 2 s gap), escape codes dropped, secrets redacted — also one
    that spans two lines, which makes the whole recording one redacted event."""
    def redact(text: str) -> str:  # "top" + "secret" on two lines, as the terminal shows them, is one secret
        return text.replace("top\r\nsecret", "[REDACTED]").replace("s3cr3t", "[REDACTED]")

    shell = RecordedShell(tmp_path / "shell", tmp_path, {"PATH": "/usr/bin:/bin"}, "mastodon", redact)
    shell.start()
    try:
        shell.type("printf '\\033[31mred\\033[0m token s3cr3t\\n'")
        assert shell.wait_idle(10, 1)
        time.sleep(2)
        shell.type("echo second")
        assert shell.wait_idle(10, 2)
        cast = shell.recording("a game day")
        shell.type("printf 'top\\nsecret\\n'")
        assert shell.wait_idle(10, 3)
        spanning = shell.recording("a game day")
    finally:
        shell.close()
    head, *events = [json.loads(x) for x in cast.splitlines()]
    assert head["version"] == 2 and head["title"] == "a game day" and head["width"] == 200
    times = [e[0] for e in events]
    assert times == sorted(times) and all(e[1] == "o" for e in events)
    text = "".join(e[2] for e in events)
    assert "red token [REDACTED]" in text and "s3cr3t" not in text and "\x1b" not in text
    t_red = next(e[0] for e in events if "red token" in e[2])
    t_second = next(e[0] for e in events if e[2].startswith("second"))
    assert t_second - t_red >= 1.5  # the think time is in the recording
    head, *events = [json.loads(x) for x in spanning.splitlines()]
    assert len(events) == 1 and "top\r\nsecret" not in events[0][2] and "[REDACTED]" in events[0][2]
