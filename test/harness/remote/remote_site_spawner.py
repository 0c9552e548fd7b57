"""The "remote system" of the end-to-end test and the demo: a ForwardSpawner subclass that plays
a batch system on a site behind an SSH jump node.

`_start()` submits a "job": it posts progress events to JUPYTERHUB_EVENTS_URL (the facade) with
the server's own JUPYTERHUB_API_TOKEN, as a remote job does, and starts notebook_server.py on the
compute node, i.e. inside the compute network namespace (`ip netns exec`, an argument list, no
shell). The notebook reaches the hub API through the ForwardedServer's remote forward: the jump
node listens on `hub_forward_address:{port}` and the runner carries those connections to the hub.

What the job does depends on the server's name (`modes`):
- "forward" (default): the job waits `queue_seconds` in the queue; `_start()` returns the
  notebook's address once it listens.
- "delayed": `_start()` returns "" at once; the job runs `delayed_seconds` later, and once the
  notebook listens it calls JUPYTERHUB_SETUPTUNNEL_URL with its address and the jump node's alias.
- "never": the job stays queued; nothing calls back (a start to cancel).

Notebooks run in their own session, so they outlive a restart of the hub like real remote jobs;
their pid is part of the spawner's state.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

from forwardspawner import ForwardSpawner
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from traitlets import Dict, Float, Integer, Unicode, default

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE / "notebook_server.py"
IP = "/usr/sbin/ip"


def hub_api_forward(spawner: RemoteSiteSpawner) -> Optional[dict[str, Any]]:
    """The remote forward that gives the compute node the hub API: one port per server (its own
    `port`), so servers never compete for a bind address on the jump node."""
    if not spawner.hub_forward_address:
        return None
    api = urlsplit(spawner.hub.api_url)
    return {
        "bindAddress": spawner.hub_forward_address,
        "bindPort": spawner.port,
        "target": {"host": api.hostname, "port": api.port},
    }


class RemoteSiteSpawner(ForwardSpawner):
    compute_netns = Unicode(
        "", config=True, help="Network namespace of the compute node; empty: this host's network."
    )
    compute_address = Unicode(
        "127.0.0.1", config=True, help="Address of the compute node as the jump node reaches it."
    )
    hub_forward_address = Unicode(
        "",
        config=True,
        help="Address on the jump node, reachable from the compute node, where the remote forward "
        "exposes the hub API; empty: no remote forward (the notebook uses the hub's own API URL).",
    )
    site_alias = Unicode("hpc", config=True, help="Jump node alias the job names in setuptunnel.")
    modes = Dict(config=True, help="Server name -> forward, delayed or never (default: forward).")
    queue_seconds = Float(3.0, config=True, help="Time a job waits in the queue before it runs.")
    # Long enough that the operator has reported "waiting for the target" before the job's own
    # messages arrive, also on a loaded 2-core machine (3 s was not, once, in a full CI run).
    delayed_seconds = Float(6.0, config=True, help="Delay before a delayed job calls setuptunnel.")
    log_dir = Unicode("", config=True, help="Directory for the notebooks' output (default: temp).")
    remote_pid = Integer(0, help="pid of the notebook process (0: none yet).")

    @default("remote_forward")
    def _default_remote_forward(self):
        return hub_api_forward

    # ------------------------------------------------------------------ the remote job
    async def _start(self) -> str:
        env = self.get_env()
        if self.hub_forward_address:
            env["JUPYTERHUB_API_URL"] = f"http://{self.hub_forward_address}:{self.port}/hub/api"
        mode = self.modes.get(self.name, "forward")
        await self._post(env, {"progress": 15, "message": f"Job queued at site {self.site_alias}"})
        if mode == "never":
            return ""
        # The job is submitted now (its pid is part of the state JupyterHub stores when start()
        # returns) and waits in the queue before the notebook listens.
        queued = self.delayed_seconds if mode == "delayed" else self.queue_seconds
        self._launch({**env, "JOB_QUEUE_SECONDS": str(queued)})
        if mode == "delayed":
            self._delayed_job = asyncio.ensure_future(self._report_later(env))
            return ""
        return await self._running(env)

    async def _running(self, env: dict[str, str]) -> str:
        """Waits until the notebook listens and tells the spawn page where it runs."""
        await self._wait_listening()
        address = f"{self.compute_address}:{self.port}"
        where = self.compute_netns or "this host"
        await self._post(
            env,
            {
                "progress": 40,
                "html_message": f"<details><summary>Notebook running on the compute node</summary>"
                f"network namespace {where}, listening on {address}</details>",
            },
        )
        return address

    async def _report_later(self, env: dict[str, str]) -> None:
        try:
            address = await self._running(env)
            body = {"service": address, "ssh_node": self.site_alias}
            await self._post(env, body, url=env["JUPYTERHUB_SETUPTUNNEL_URL"])
        except asyncio.CancelledError:
            raise
        except Exception:
            self.log.exception("Delayed job of %s failed", self._log_name)

    def _launch(self, env: dict[str, str]) -> None:
        argv = [sys.executable, str(NOTEBOOK)]
        if self.compute_netns:
            argv = [IP, "netns", "exec", self.compute_netns, *argv]
        log_dir = Path(self.log_dir or os.environ.get("TMPDIR", "/tmp"))
        self._log_path = log_dir / f"notebook-{self.user.name}-{self.name or 'default'}-{self.start_id}.log"
        with open(self._log_path, "wb") as out:
            proc = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._proc = proc
        self.remote_pid = proc.pid
        self.log.info("Started notebook of %s as pid %s: %s", self._log_name, proc.pid, argv)

    async def _wait_listening(self, timeout: float = 30) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            text = self._log_path.read_text(errors="replace")
            if "listening on" in text:
                return
            if self._proc.poll() is not None:
                raise RuntimeError(f"The notebook exited ({self._proc.returncode}): {text[-2000:]}")
            await asyncio.sleep(0.1)
        raise RuntimeError(f"The notebook did not listen within {timeout} s")

    async def _post(self, env: dict[str, str], body: dict[str, Any], url: str = "") -> None:
        request = HTTPRequest(
            url or env["JUPYTERHUB_EVENTS_URL"],
            method="POST",
            body=json.dumps(body),
            headers={
                "Authorization": f"token {env['JUPYTERHUB_API_TOKEN']}",
                "Content-Type": "application/json",
            },
        )
        response = await AsyncHTTPClient().fetch(request, raise_error=False)
        self.log.info("Remote job of %s posted to %s: %s", self._log_name, request.url, response.code)

    # ------------------------------------------------------------------ poll, stop, state
    def _notebook_alive(self) -> bool:
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.pid == self.remote_pid:
            return proc.poll() is None
        try:  # after a hub restart: the pid from the state, if it is still our notebook
            cmdline = Path(f"/proc/{self.remote_pid}/cmdline").read_bytes()
        except OSError:
            return False
        return NOTEBOOK.name.encode() in cmdline

    async def _poll(self) -> Optional[int]:
        if self.remote_pid and not self._notebook_alive():
            return 0
        return None

    async def _stop(self, now: bool = False) -> None:
        job = getattr(self, "_delayed_job", None)
        if job is not None:
            job.cancel()
        if self.remote_pid and self._notebook_alive():
            os.kill(self.remote_pid, signal.SIGTERM)
            for _ in range(50):
                await asyncio.sleep(0.1)
                if not self._notebook_alive():
                    break
            else:
                os.kill(self.remote_pid, signal.SIGKILL)
        self.log.info("Stopped the notebook of %s (pid %s)", self._log_name, self.remote_pid)

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        if self.remote_pid:
            state["remote_pid"] = self.remote_pid
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.remote_pid = state.get("remote_pid", 0)

    def clear_state(self) -> None:
        super().clear_state()
        self.remote_pid = 0
