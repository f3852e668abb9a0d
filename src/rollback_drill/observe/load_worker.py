"""A locust worker process of the drill's distributed load (observe/load.py, LoadConfig.workers).

Reads its spec (master port, target, load config) as JSON on stdin — never argv, which `ps` shows —
runs the same user class as the single-process load, and sends every request back to the master
in batches (monotonic time, status, X-Served-By) so the drill's timeline sees each one.
"""

from __future__ import annotations

from locust.env import Environment  # noqa: I001 - locust patches gevent before anything else

import json
import sys
import time

import gevent

from rollback_drill.observe.load import LoadConfig, answer_of, make_user_class
from rollback_drill.observe.probes import Target

BATCH_S = 0.25


def main() -> int:
    spec = json.loads(sys.stdin.read())
    cfg = LoadConfig(**spec["cfg"])
    env = Environment(user_classes=[make_user_class(Target(**spec["target"]), cfg)])
    batch: list[tuple] = []

    def on_request(request_type, name, response_time, response_length, response=None, exception=None, **kw):
        batch.append((time.monotonic(), name, response_time, *answer_of(response)))

    env.events.request.add_listener(on_request)
    runner = env.create_worker_runner("127.0.0.1", spec["port"])

    def send() -> None:
        if batch:
            out = batch[:]
            del batch[:]
            runner.send_message("requests", out)

    def flush() -> None:
        while True:
            gevent.sleep(BATCH_S)
            send()

    env.events.test_stop.add_listener(lambda **kw: send())  # the last requests before the master stops us
    gevent.spawn(flush)
    runner.greenlet.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
