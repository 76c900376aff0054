"""The interpreter kfp.local starts for a step when the step server is up: a client of it.

kfp.local runs each lightweight component as ``sh -ec '... python3 -m kfp.dsl.executor_main
--component_module_path ... "$@"'``; :mod:`aifabric.kfp_pipelines.stepserver` substitutes a
launcher for ``python3`` that runs this file as ``python -I -S stepclient.py SOCKET ARGS...``
(standard library only, no site-packages: it starts in ~20 ms). It hands the step server its
argv, environment, working directory and its stdin/stdout/stderr file descriptors; the server
forks a pre-warmed child that runs ``kfp.dsl.executor_main`` writing straight into those
descriptors, so kfp.local streams the step's log as before. The client exits with the child's
exit code. If it is killed, the server sees the connection close and stops the child.

Anything else (another ``-m`` module, or no server to talk to) runs in a plain interpreter, as
kfp.local would have done.
"""

import json
import os
import socket
import sys

EXECUTOR = ["-m", "kfp.dsl.executor_main"]


def _plain(args: list[str]) -> None:
    os.execv(sys.executable, [sys.executable, *args])


def main() -> int:
    sock_path, args = sys.argv[1], sys.argv[2:]
    if args[:2] != EXECUTOR:
        _plain(args)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(sock_path)
    except OSError as exc:
        print(f"aifabric step server at {sock_path} unavailable ({exc}); cold start", file=sys.stderr)
        conn.close()
        _plain(args)
    request = {"argv": args[2:], "env": dict(os.environ), "cwd": os.getcwd()}
    socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
    answer: dict = {}
    with conn.makefile("rb") as reader:
        for line in reader:
            answer = json.loads(line)
            if "exit" in answer or "error" in answer:
                break
    if "exit" in answer:
        code = int(answer["exit"])
        return code if code >= 0 else 128 - code  # killed by a signal: the shell's convention
    reason = answer.get("error", "connection lost before the step ended")
    print(f"aifabric step server: {reason}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
