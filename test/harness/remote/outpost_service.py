"""An Outpost-shaped HTTP service for the OutpostSpawner test: the remote side of a site that
starts notebooks on its compute node (inside the compute network namespace), with the API
OutpostSpawner calls (a JupyterHub Outpost's `/services`):

    POST   /services                      start {"name", "env", "user_options", "misc", ...}
                                          sync: 200 {"service": "host:port"} once it listens;
                                          header `execution-type: async`: 202 {"service": ""}
                                          at once, the start runs in the background
    GET    /services/{name}/{start_id}    poll: {"status": null | exit code, "logs": [...]}; 404
    DELETE /services/{name}/{start_id}    stop: 200 {"logs": [...]}; header `execution-type:
                                          async`: 202 {} at once, the stop runs in the background;
                                          404

HTTP Basic auth as the Outpost (user = the hub's name). `user_options` steer a start like a
site's queue would: `queue_seconds` (wait before the notebook starts), `hold` (wait until the
test calls POST /_test/release/{name}), `outpost_status` (answer the start with that status and
a JSON error, starting nothing) and `outpost_error` (an asynchronous start fails after the
queue: the service tells the hub with a failed event, as an Outpost does, and forgets the
start). Once the notebook listens, the service posts a progress event to JUPYTERHUB_EVENTS_URL
with the server's token; after an asynchronous start it then posts the address to
JUPYTERHUB_SETUPTUNNEL_URL, as a site's start hook does (an Outpost does not call setuptunnel
itself).

GET /_test/state tells the test what is running and which requests came (method, path and
execution type). Nothing from a request is executed: the notebook is a fixed argument list, the
request's env its environment.

    outpost_service.py PORT COMPUTE_NETNS COMPUTE_ADDRESS USER:PASSWORD LOG_DIR
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE / "notebook_server.py"
IP = "/usr/sbin/ip"


class Service:
    def __init__(self, name: str, start_id: str, env: dict[str, str], port: int):
        self.name, self.start_id, self.env, self.port = name, start_id, env, port
        self.proc: Optional[subprocess.Popen] = None
        self.log_path: Optional[Path] = None
        self.removed = False
        # Set by POST /_test/release/{name}: a start held in the queue (`hold`) goes on.
        self.released = asyncio.Event()


class Outpost:
    def __init__(self, netns: str, address: str, credentials: str, log_dir: str):
        self.netns, self.address, self.log_dir = netns, address, Path(log_dir)
        self.auth = "Basic " + base64.b64encode(credentials.encode()).decode()
        self.services: dict[tuple[str, str], Service] = {}
        self.requests: list[list[str]] = []
        self.tasks: set[asyncio.Task] = set()

    def background(self, work: Any) -> None:
        """Runs a coroutine after the answer; the loop keeps only weak references to tasks."""
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def launch(self, svc: Service) -> None:
        argv = [sys.executable, str(NOTEBOOK)]
        if self.netns:
            argv = [IP, "netns", "exec", self.netns, *argv]
        svc.log_path = self.log_dir / f"outpost-{svc.name}-{svc.start_id}.log"
        with open(svc.log_path, "wb") as out:
            svc.proc = subprocess.Popen(
                argv, env=svc.env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )

    async def listening(self, svc: Service, timeout: float = 30) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if svc.log_path and "listening on" in svc.log_path.read_text(errors="replace"):
                return
            if svc.proc and svc.proc.poll() is not None:
                raise RuntimeError(f"the notebook exited with {svc.proc.returncode}")
            await asyncio.sleep(0.1)
        raise RuntimeError("the notebook did not listen in time")

    def stop(self, svc: Service) -> None:
        svc.removed = True
        proc = svc.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def forget(self, svc: Service) -> None:
        """Stops the service's notebook, then removes the service (as an Outpost removes its
        row after a stop or a failed start). A start still held ends without a notebook."""
        svc.removed = True
        svc.released.set()
        self.stop(svc)
        self.services.pop((svc.name, svc.start_id), None)

    async def forget_later(self, svc: Service) -> None:
        svc.removed = True
        svc.released.set()
        await asyncio.get_running_loop().run_in_executor(None, self.stop, svc)
        self.services.pop((svc.name, svc.start_id), None)

    async def post(self, svc: Service, url: str, body: dict[str, Any]) -> int:
        request = HTTPRequest(
            url,
            method="POST",
            body=json.dumps(body),
            headers={
                "Authorization": f"token {svc.env['JUPYTERHUB_API_TOKEN']}",
                "Content-Type": "application/json",
            },
        )
        response = await AsyncHTTPClient().fetch(request, raise_error=False)
        return response.code

    async def run(self, svc: Service, options: dict[str, Any]) -> str:
        """Waits in the queue, starts the notebook (or fails with `outpost_error`), reports it;
        the address, or "" if the service was stopped meanwhile."""
        if options.get("hold"):
            await svc.released.wait()
        await asyncio.sleep(float(options.get("queue_seconds", 0)))
        error = str(options.get("outpost_error") or "")
        if svc.removed:
            return ""
        if error:
            raise StartError(error)
        self.launch(svc)
        await self.listening(svc)
        address = f"{self.address}:{svc.port}"
        await self.post(
            svc,
            svc.env["JUPYTERHUB_EVENTS_URL"],
            {"progress": 70, "message": f"Outpost: notebook listening on the compute node at {address}"},
        )
        return address


class StartError(Exception):
    """The site refused or failed a start (its batch system, its quota)."""


class Base(web.RequestHandler):
    def initialize(self, outpost: Outpost) -> None:
        self.outpost = outpost

    def prepare(self) -> None:
        execution = self.request.headers.get("execution-type", "sync")
        self.outpost.requests.append([self.request.method, self.request.path, execution])
        if not self.request.path.startswith("/_test/") and self.request.headers.get("Authorization") != (
            self.outpost.auth
        ):
            self.set_header("WWW-Authenticate", "Basic")
            self.set_status(401)
            self.finish({"detail": "Incorrect username or password"})

    def find(self, name: str, start_id: str) -> Service:
        svc = self.outpost.services.get((name, start_id))
        if svc is None:
            raise web.HTTPError(404)
        return svc

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish({"detail": "Item not found" if status_code == 404 else self._reason})


class Services(Base):
    async def post(self) -> None:
        body = json.loads(self.request.body or b"{}")
        options = body.get("user_options") or {}
        if options.get("outpost_status"):
            self.set_status(int(options["outpost_status"]))
            self.finish({"detail": "The site's batch system refused the job: quota exceeded"})
            return
        env = {str(k): str(v) for k, v in (body.get("env") or {}).items()}
        svc = Service(str(body["name"]), str(options["start_id"]), env, int(body["misc"]["port"]))
        self.outpost.services[(svc.name, svc.start_id)] = svc
        if self.request.headers.get("execution-type") == "async":
            self.outpost.background(self.later(svc, options))
            self.set_status(202)
            self.finish({"service": ""})
            return
        self.finish({"service": await self.outpost.run(svc, options)})

    async def later(self, svc: Service, options: dict[str, Any]) -> None:
        try:
            address = await self.outpost.run(svc, options)
        except StartError as e:
            now = datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
            event = {
                "failed": True,
                "progress": 100,
                "html_message": (
                    f"<details><summary>{now}: JupyterHub Outpost could not start service: {e}"
                    f"</summary>{type(e).__name__}: {e}</details>"
                ),
            }
            await self.outpost.post(svc, svc.env["JUPYTERHUB_EVENTS_URL"], event)
            self.outpost.forget(svc)
            return
        if address:
            await self.outpost.post(svc, svc.env["JUPYTERHUB_SETUPTUNNEL_URL"], {"service": address})


class OneService(Base):
    def get(self, name: str, start_id: str) -> None:
        svc = self.find(name, start_id)
        status = svc.proc.poll() if svc.proc is not None else None
        self.finish({"status": status, "logs": []})

    def delete(self, name: str, start_id: str) -> None:
        svc = self.find(name, start_id)
        if self.request.headers.get("execution-type") == "async":
            self.outpost.background(self.outpost.forget_later(svc))
            self.set_status(202)
            self.finish({})
            return
        self.outpost.forget(svc)
        self.finish({"logs": [f"stopped {name}"]})


class Release(Base):
    def post(self, name: str) -> None:
        held = [svc for (n, _), svc in self.outpost.services.items() if n == name]
        for svc in held:
            svc.released.set()
        self.finish({"released": len(held)})


class State(Base):
    def get(self) -> None:
        running = {
            f"{name}/{sid}": svc.proc.pid
            for (name, sid), svc in self.outpost.services.items()
            if svc.proc is not None and svc.proc.poll() is None
        }
        self.finish({"services": sorted(f"{n}/{s}" for n, s in self.outpost.services), "running": running,
                     "requests": self.outpost.requests})


def main() -> None:
    port, netns, address, credentials, log_dir = sys.argv[1:6]
    outpost = Outpost(netns, address, credentials, log_dir)
    app = web.Application(
        [
            (r"/services/?", Services, {"outpost": outpost}),
            (r"/services/([^/]*)/([^/]+)", OneService, {"outpost": outpost}),
            (r"/_test/state", State, {"outpost": outpost}),
            (r"/_test/release/([^/]*)", Release, {"outpost": outpost}),
        ]
    )

    def shutdown(*_: Any) -> None:
        for svc in list(outpost.services.values()):
            outpost.stop(svc)
        os._exit(0)

    async def serve() -> None:
        app.listen(int(port), "127.0.0.1")
        print(f"listening on 127.0.0.1:{port}", flush=True)
        await asyncio.Event().wait()

    signal.signal(signal.SIGTERM, shutdown)
    asyncio.run(serve())

if __name__ == "__main__":
    main()
