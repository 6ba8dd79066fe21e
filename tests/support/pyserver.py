"""What the Python test servers (s3_server.py, fakesnow_json.py) share: their arguments, saying
they are ready, noticing that their owner is gone, and leaving no folder behind.

    python <server>.py --port-file PATH [--owner-pid PID] [--port 0] [--host 127.0.0.1]
"""

from __future__ import annotations

import argparse
import os
import shutil


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--owner-pid", type=int, default=0)
    return parser.parse_args()


def announce(port_file: str, port: int) -> None:
    """Write "PORT PID" to `port_file` in one step: its owner takes it as "ready"."""
    with open(port_file + ".tmp", "w") as f:
        f.write(f"{port} {os.getpid()}")
    os.replace(port_file + ".tmp", port_file)


def owner_gone(owner_pid: int) -> bool:
    """Whether the process that started this server has exited (0 = no owner to watch)."""
    if not owner_pid:
        return False
    try:
        os.kill(owner_pid, 0)
    except ProcessLookupError:
        return True
    return False


def remove_owner_folder(port_file: str) -> None:
    """After the owner is gone nobody is left to read the log or remove the folder it made."""
    shutil.rmtree(os.path.dirname(os.path.abspath(port_file)), ignore_errors=True)
