"""fakesnow's Snowflake REST server, answering query results in Snowflake's JSON result format.

fakesnow (PyPI) serves the Snowflake REST protocol over an embedded DuckDB, but returns SELECT
(and DDL) results only as Arrow, which the Node.js driver (snowflake-sdk) cannot read: real
Snowflake answers the Node driver in JSON. This wrapper keeps fakesnow's server as is and only
re-encodes those results as a JSON rowset, in the encoding real Snowflake uses for the Node
driver (every value a string: FIXED as digits, DATE as days since the epoch, TIMESTAMP_NTZ as
"seconds.nanoseconds", BOOLEAN as "1"/"0").

    python fakesnow_json.py [--port 0] --port-file PATH [--owner-pid PID]

writes "PORT PID" to PATH once it accepts connections, and exits when process PID is gone.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import decimal
import json
import socket
from typing import Any

import fakesnow.info_schema as info_schema
import fakesnow.server as srv
import pyarrow as pa
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pyserver import announce, owner_gone, parse_args, remove_owner_folder

EPOCH = dt.datetime(1970, 1, 1)
EPOCH_DATE = dt.date(1970, 1, 1)


def _seconds(v: dt.datetime) -> str:
    if v.tzinfo is not None:
        v = v.astimezone(dt.timezone.utc).replace(tzinfo=None)
    delta = v - EPOCH
    total_us = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    sec, us = divmod(total_us, 1_000_000)
    return f"{sec}.{us * 1000:09d}"


def _cell(v: Any, sf_type: str) -> str | None:
    if v is None:
        return None
    if sf_type == "boolean":
        return "1" if v else "0"
    if sf_type == "date":
        return str((v - EPOCH_DATE).days)
    if sf_type in ("timestamp_ntz", "timestamp_ltz"):
        return _seconds(v)
    if sf_type == "timestamp_tz":
        offset = v.utcoffset() or dt.timedelta(0)
        return f"{_seconds(v)} {int(offset.total_seconds() // 60) + 1440}"
    if sf_type == "time":
        return f"{v.hour * 3600 + v.minute * 60 + v.second}.{v.microsecond * 1000:09d}"
    if sf_type == "real":
        return repr(float(v))
    if sf_type == "fixed":
        return str(v) if isinstance(v, (int, decimal.Decimal)) else str(int(v))
    if sf_type == "binary":
        return bytes(v).hex()
    if isinstance(v, (dict, list)):
        return json.dumps(v, default=str)
    return str(v)


def json_rowset(table: pa.Table, rowtype: list[dict[str, Any]]) -> list[list[str | None]]:
    columns = [c.to_pylist() for c in table.columns]
    types = [c["type"] for c in rowtype]
    return [[_cell(v, t) for v, t in zip(row, types, strict=True)] for row in zip(*columns, strict=True)]


# fakesnow encodes a result with to_ipc(to_sf(table, rowtype)) and base64-encodes the bytes:
# hand the JSON rowset through that path instead of Arrow IPC bytes.
srv.to_sf = lambda table, rowtype: (table, rowtype)  # type: ignore[assignment]
srv.to_ipc = lambda pair: json.dumps(json_rowset(*pair)).encode()  # type: ignore[assignment]


# fakesnow records the comment and VARCHAR lengths of every table it creates (including the
# temporary table its MERGE emulation builds) in a separate DuckDB database, and DuckDB lets one
# transaction write to one database only: a MERGE after an INSERT inside BEGIN ... COMMIT then
# fails, though Snowflake runs it. Skip that bookkeeping (it only feeds table comments and
# DESCRIBE's VARCHAR lengths, which no test reads).
info_schema.insert_text_lengths_sql = lambda *_args, **_kw: "SELECT 1"  # type: ignore[assignment]
info_schema.insert_table_comment_sql = lambda *_args, **_kw: "SELECT 1"  # type: ignore[assignment]


async def query_request(request: Request) -> Response:
    response = await srv.query_request(request)
    body = json.loads(bytes(response.body))
    data = body.get("data") or {}
    if body.get("success") and data.get("queryResultFormat") == "arrow":
        encoded = data.pop("rowsetBase64", "")
        rows = json.loads(base64.b64decode(encoded)) if encoded else []
        data["queryResultFormat"] = "json"
        data["rowset"] = rows
        data["total"] = len(rows)
        data["returned"] = len(rows)
        return JSONResponse(body, status_code=response.status_code)
    if body.get("success") and isinstance(data.get("rowset"), list) and "returned" not in data:
        # DML row counts: the Node driver streams `returned` rows and waits forever without it
        data["returned"] = len(data["rowset"])
        return JSONResponse(body, status_code=response.status_code)
    return response


routes = [
    Route(r.path, query_request, methods=["POST"]) if getattr(r, "path", "") == "/queries/v1/query-request" else r
    for r in srv.routes
]
app = Starlette(debug=False, routes=routes)


def serve_until_owner_exits(app: Starlette, host: str, port: int, port_file: str, owner_pid: int) -> None:
    """Serve `app`, announce "PORT PID" in `port_file` when ready, stop when `owner_pid` dies."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))

    orphaned = False

    async def watch_owner() -> None:
        nonlocal orphaned
        while not owner_gone(owner_pid):
            await asyncio.sleep(1)
        orphaned = True
        server.should_exit = True

    async def serve() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                await task
                return
            await asyncio.sleep(0.02)
        announce(port_file, bound)
        watcher = asyncio.create_task(watch_owner())
        await task
        watcher.cancel()

    asyncio.run(serve())
    if orphaned:
        remove_owner_folder(port_file)


def main() -> None:
    args = parse_args()
    serve_until_owner_exits(app, args.host, args.port, args.port_file, args.owner_pid)


if __name__ == "__main__":
    main()
