"""A real S3-API HTTP server for tests: moto's server (PyPI moto[server]) on a free port.

    python s3_server.py --port-file PATH [--owner-pid PID] [--port 0]

writes "PORT PID" to PATH once it accepts connections, and exits when process PID is gone.
Any access key is accepted; buckets live in memory for the life of the process.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import time

from moto.moto_server.threaded_moto_server import ThreadedMotoServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--owner-pid", type=int, default=0)
    args = parser.parse_args()

    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    with open(args.port_file + ".tmp", "w") as f:
        f.write(f"{port} {os.getpid()}")
    os.replace(args.port_file + ".tmp", args.port_file)

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    orphaned = False
    while not stopping:
        if args.owner_pid:
            try:
                os.kill(args.owner_pid, 0)
            except ProcessLookupError:
                orphaned = True
                break
        time.sleep(0.5)
    server.stop()
    if orphaned:
        # Nobody is left to read the log or remove the folder the owner made for this server.
        shutil.rmtree(os.path.dirname(os.path.abspath(args.port_file)), ignore_errors=True)


if __name__ == "__main__":
    main()
