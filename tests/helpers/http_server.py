"""A tiny HTTP(S) server on 127.0.0.1 for tests of where load and probes send requests.

    python http_server.py PORT LOG [--tls CERT KEY] [--redirect-to URL]

Every request is appended to LOG (method and path, one line). It answers 200 "OK" (JSON with an
access token for /oauth/token), or 307 to --redirect-to. Runs until killed.
"""

import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, log = int(sys.argv[1]), sys.argv[2]
args = sys.argv[3:]
redirect = args[args.index("--redirect-to") + 1] if "--redirect-to" in args else ""


class Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        with open(log, "a") as f:
            f.write(f"{self.command} {self.path} {len(body)}\n")
        if redirect:
            self.send_response(307)
            self.send_header("Location", redirect + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        out = json.dumps({"access_token": "t"}).encode() if self.path.startswith("/oauth") else b"OK"
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = _answer

    def log_message(self, *a) -> None:
        pass


srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
if "--tls" in args:
    i = args.index("--tls")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args[i + 1], args[i + 2])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("ready", flush=True)
srv.serve_forever()
