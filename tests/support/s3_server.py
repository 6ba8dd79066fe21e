"""A real S3-API HTTP server for tests: moto's server (PyPI moto[server]) on a free port.

    python s3_server.py --port-file PATH [--owner-pid PID] [--port 0]

writes "PORT PID" to PATH once it accepts connections, and exits when process PID is gone
(see pyserver.py).
Any access key is accepted; buckets live in memory for the life of the process.
"""

from __future__ import annotations

import signal
import time

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from pyserver import announce, owner_gone, parse_args, remove_owner_folder


def main() -> None:
    args = parse_args()
    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    announce(args.port_file, port)

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    orphaned = False
    while not stopping:
        if owner_gone(args.owner_pid):
            orphaned = True
            break
        time.sleep(0.5)
    server.stop()
    if orphaned:
        remove_owner_folder(args.port_file)


if __name__ == "__main__":
    main()
