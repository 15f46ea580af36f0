"""The control API: aiohttp on a user-only unix socket (no TCP listener)."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import struct
from typing import TYPE_CHECKING

from aiohttp import web

from iejtui.errors import UserError
from iejtui.service import validate

if TYPE_CHECKING:
    from iejtui.service.core import Service

API = "/v1"


def _peer_uid(request: web.Request) -> int | None:
    """The connecting process's uid (SO_PEERCRED on the unix socket); None when it cannot be
    read (not a unix socket, or the kernel would not say): the guard then refuses."""
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is None or sock.family != socket.AF_UNIX:
        return None
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        return struct.unpack("3i", creds)[1]
    except (OSError, struct.error):
        return None


@web.middleware
async def guard(request: web.Request, handler):
    """Only the journal's owner may talk to its service (fails closed: a peer whose uid cannot
    be read is refused too); errors become one-line JSON."""
    uid = _peer_uid(request)
    if uid != os.getuid():
        who = "could not tell who connects" if uid is None else "this service belongs to another user"
        return web.json_response({"error": f"forbidden: {who}"}, status=403)
    try:
        return await handler(request)
    except UserError as exc:
        return web.json_response({"error": str(exc), "user_error": True}, status=400)
    except web.HTTPException:
        raise
    except sqlite3.Error as exc:  # disk full, read-only, I/O error, damaged: name the cause and its fix
        from iejtui.store.faults import write_error
        service = request.app["service"]
        service.write_error = write_error(exc, service.paths.db)
        return web.json_response({"error": f"cannot write {service.paths.db}: {service.write_error}"}, status=507)
    except Exception as exc:  # report, never crash the service
        return web.json_response({"error": f"internal error: {type(exc).__name__}: {exc}"}, status=500)


def build_app(service: "Service", on_stop) -> web.Application:
    app = web.Application(middlewares=[guard], client_max_size=1 << 20)
    app["service"] = service
    routes = web.RouteTableDef()

    async def body(request: web.Request) -> dict:
        try:
            data = await request.json()
        except ValueError:
            raise UserError("request body must be JSON") from None
        if not isinstance(data, dict):
            raise UserError("request body must be a JSON object")
        return data

    @routes.get(f"{API}/status")
    async def status(request):
        return web.json_response(service.status())

    @routes.get(f"{API}/engines")
    async def engines(request):
        return web.json_response([h.public() for h in service.engines.values()])

    @routes.get(API + "/engines/{name}")
    async def engine(request):
        h = service.engines.get(request.match_info["name"])
        if h is None:
            raise UserError(f"no engine {request.match_info['name']!r} in this service")
        return web.json_response(h.public())

    @routes.post(f"{API}/engines")
    async def start(request):
        data = await body(request)
        validate.engine_request(data)  # before a profile is resolved or a run row created
        if data.get("attach"):
            return web.json_response(await service.attach_engine(data))
        return web.json_response(await service.start_engine(data))

    @routes.post(API + "/engines/{name}/stop")
    async def stop(request):
        return web.json_response(await service.stop_engine(request.match_info["name"]))

    @routes.get(API + "/engines/{name}/log")
    async def engine_log(request):
        h = service.engines.get(request.match_info["name"])
        if h is None:
            raise UserError(f"no engine {request.match_info['name']!r} in this service")
        n = validate.log_lines(request.query)
        return web.json_response({"lines": list(h.log_lines)[-n:] if n else [],
                                  "path": h.pid.log_path if h.pid else None})

    @routes.post(f"{API}/benches")
    async def bench_start(request):
        from iejtui.service.bench import start_bench
        data = await body(request)
        validate.bench_request(data)
        return web.json_response((await start_bench(service, data)).public())

    @routes.get(f"{API}/benches")
    async def bench_list(request):
        return web.json_response([j.public() for j in service.benches.values()])

    def _job(request):
        try:
            run_id = int(request.match_info["run_id"])
        except ValueError:
            raise UserError("run id must be an integer") from None
        job = service.benches.get(run_id)
        if job is None:
            raise UserError(f"no benchmark with run id {run_id} in this service")
        return job

    @routes.get(API + "/benches/{run_id}")
    async def bench_get(request):
        return web.json_response(_job(request).public())

    @routes.post(API + "/benches/{run_id}/cancel")
    async def bench_cancel(request):
        from iejtui.service.bench import cancel_bench
        return web.json_response((await cancel_bench(service, _job(request).run_id)).public())

    @routes.post(API + "/runs/{id}/tags")
    async def run_tags(request):
        from iejtui.journal.service_ops import apply_tags, parse_tag_request
        run_id, add, remove, day = parse_tag_request(request.match_info["id"], await body(request))
        return web.json_response(await service.db(apply_tags, service.writer, run_id, add, remove, day))

    @routes.post(f"{API}/recordings")
    async def record(request):
        from iejtui.service.recordings import start_recording
        data = await body(request)
        validate.recording_request(data)
        return web.json_response(await start_recording(service, data))

    @routes.post(API + "/recordings/{run_id}/stop")
    async def record_stop(request):
        try:
            run_id = int(request.match_info["run_id"])
        except ValueError:
            raise UserError("run id must be an integer") from None
        from iejtui.service.recordings import stop_recording
        return web.json_response(await stop_recording(service, run_id))

    @routes.post(f"{API}/imports")
    async def import_window(request):
        from iejtui.service.imports import import_window as run_import
        data = await body(request)
        validate.import_request(data)
        return web.json_response(await run_import(service, data))

    @routes.post(f"{API}/service/stop")
    async def stop_service(request):
        data = await body(request) if request.can_read_body else {}
        validate.stop_request(data)
        asyncio.get_running_loop().call_soon(on_stop, not data.get("keep_engines", False))
        return web.json_response({"stopping": True, "pid": os.getpid()})

    # ---- matrix ----
    # A benchmark grid owned by the service (iejtui.service.matrices, .matrix_job); the progress dict:
    # iejtui.matrix.state.progress_view. POST /matrices {"file", "fresh", "retry_failed"}.
    @routes.post(f"{API}/matrices")
    async def matrix_start(request):
        from iejtui.service.matrices import start_matrix
        data = await body(request)
        validate.matrix_request(data)
        return web.json_response(await start_matrix(service, data))

    @routes.get(f"{API}/matrices")
    async def matrix_list(request):
        from iejtui.service.matrices import matrix_status
        return web.json_response(await matrix_status(service))

    @routes.get(API + "/matrices/{name}")
    async def matrix_get(request):
        from iejtui.service.matrices import matrix_status
        return web.json_response((await matrix_status(service, request.match_info["name"]))[0])

    @routes.post(API + "/matrices/{name}/cancel")
    async def matrix_cancel(request):
        from iejtui.service.matrices import cancel_matrix
        return web.json_response(await cancel_matrix(service, request.match_info["name"]))
    # ---- /matrix ----

    app.add_routes(routes)
    return app
