"""A real JupyterHub process (from PyPI, with configurable-http-proxy from npm) for test_hub.py,
and the notebook stub its remote servers "run" as.

The hub runs in its own process group, so stopping it also ends the proxy it started, also
when a test fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any, Optional

from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

HERE = Path(__file__).resolve().parent
CHP = HERE.parents[1] / "node_modules" / ".bin" / "configurable-http-proxy"
TESTER_TOKEN = "tester-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proxy_pids(api_port: int) -> list[int]:
    """configurable-http-proxy processes listening for their API on `api_port`."""
    wanted = f"--api-port\0{api_port}\0".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes() + b"\0"
        except OSError:
            continue
        if b"configurable-http-proxy" in cmdline and wanted in cmdline:
            pids.append(int(proc.name))
    return pids


class NotebookStub:
    """Answers like a single-user server for every /user/... path (JupyterHub only needs an
    answer below 500), 503 for users in `unready`, and records remote stops."""

    def __init__(self) -> None:
        self.unready: set[str] = set()
        self.stopped: list[str] = []
        self.port = 0
        self._server: Optional[HTTPServer] = None

    async def start(self) -> NotebookStub:
        stub = self

        class Handler(web.RequestHandler):
            def get(self, path: str) -> None:
                user = path.split("/")[1] if path.startswith("user/") else ""
                self.set_status(503 if user in stub.unready else 200)
                self.set_header("X-JupyterHub-Version", "5.5.4")
                self.finish({"ok": user not in stub.unready})

            def post(self, path: str) -> None:
                if path.startswith("_remote/stopped/"):
                    stub.stopped.append(path[len("_remote/stopped/") :])
                self.finish({})

        sockets = bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self._server = HTTPServer(web.Application([(r"/(.*)", Handler)]))
        self._server.add_sockets(sockets)
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()


class Hub:
    def __init__(
        self, workdir: Path, facade_url: str, facade_token: str, stub: NotebookStub, extra_config: str = ""
    ):
        self.workdir = workdir
        self.port, self.hub_port, self.proxy_port = free_port(), free_port(), free_port()
        self.log_path = workdir / "jupyterhub.log"
        self.process: Optional[asyncio.subprocess.Process] = None
        (workdir / "jupyterhub_config.py").write_text(
            f"""
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {self.port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {self.hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{self.proxy_port}"
c.ConfigurableHTTPProxy.command = [{str(CHP)!r}]
c.JupyterHub.db_url = "sqlite:///jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "cookie_secret"
c.JupyterHub.cleanup_servers = False
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.allow_named_servers = True
c.JupyterHub.tornado_settings = {{"slow_spawn_timeout": 0}}
c.JupyterHub.services = [{{"name": "tester", "api_token": {TESTER_TOKEN!r}}}]
c.JupyterHub.load_roles = [{{"name": "tester", "services": ["tester"],
    "scopes": ["admin:users", "admin:servers", "read:servers", "servers"]}}]
c.JupyterHub.spawner_class = "hub_remote.ScriptedRemote"
c.ScriptedRemote.remote_control_url = "http://{stub.address}"
c.ForwardSpawner.facade_url = {facade_url!r}
c.ForwardSpawner.facade_token = {facade_token!r}
c.ForwardSpawner.jump_node = "hpc-login"
c.ForwardSpawner.facade_long_poll_seconds = 5
c.ForwardSpawner.facade_retry_timeout = 2
c.Spawner.start_timeout = 20
c.Spawner.http_timeout = 30
c.Spawner.poll_interval = 2
"""
            + extra_config
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hub/api"

    async def start(self, timeout: float = 30) -> None:
        env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        with self.log_path.open("ab") as log:  # noqa: ASYNC230 (a local file, opened once)
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "jupyterhub",
                "-f",
                "jupyterhub_config.py",
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.process.returncode is not None:
                raise RuntimeError(f"JupyterHub exited with {self.process.returncode}:\n{self.log_tail()}")
            code, _ = await self.api("GET", "/", raise_error=False)
            if code == 200:
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"JupyterHub did not answer within {timeout}s:\n{self.log_tail()}")

    async def stop(self) -> None:
        """SIGTERM to the hub (which stops its proxy), SIGKILL to the group if that hangs."""
        proc, self.process = self.process, None
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except asyncio.TimeoutError:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        await proc.wait()
        await self._stop_orphaned_proxy()

    async def _stop_orphaned_proxy(self) -> None:
        """JupyterHub starts the proxy in a session of its own and stops it on a clean exit; a
        hub stopped during its start-up can leave it running. It is found by its API port,
        which is this hub's alone."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = proxy_pids(self.proxy_port)
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            for _ in range(20):
                await asyncio.sleep(0.1)
                if not proxy_pids(self.proxy_port):
                    return

    async def api(
        self, method: str, path: str, body: Any = None, raise_error: bool = True
    ) -> tuple[int, Any]:
        request = HTTPRequest(
            self.url + path,
            method=method,
            headers={"Authorization": f"token {TESTER_TOKEN}"},
            body=None if body is None and method in ("GET", "DELETE") else json.dumps(body or {}),
            request_timeout=30,
        )
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except OSError:
            if raise_error:
                raise
            return 599, None
        if raise_error and response.code >= 400:
            raise AssertionError(f"{method} {path}: {response.code} {response.body!r}\n{self.log_tail()}")
        if "json" not in response.headers.get("Content-Type", ""):
            return response.code, response.body
        return response.code, json.loads(response.body) if response.body else None

    async def progress(self, user: str, server: str = "", timeout: float = 30) -> list[dict[str, Any]]:
        """The spawn page's event stream, until JupyterHub ends it (ready or failed)."""
        events: list[dict[str, Any]] = []
        buffer = b""

        def on_chunk(chunk: bytes) -> None:
            nonlocal buffer
            buffer += chunk
            while b"\n\n" in buffer:
                block, buffer = buffer.split(b"\n\n", 1)
                events.extend(
                    json.loads(line[6:]) for line in block.splitlines() if line.startswith(b"data: ")
                )

        path = f"/users/{user}/servers/{server}/progress" if server else f"/users/{user}/server/progress"
        request = HTTPRequest(
            self.url + path,
            headers={"Authorization": f"token {TESTER_TOKEN}"},
            streaming_callback=on_chunk,
            request_timeout=timeout,
        )
        await AsyncHTTPClient().fetch(request)
        return events

    async def server_model(self, user: str, server: str = "") -> Optional[dict[str, Any]]:
        _, model = await self.api("GET", f"/users/{user}")
        return model.get("servers", {}).get(server)

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
