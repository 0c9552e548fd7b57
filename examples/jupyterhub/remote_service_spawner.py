"""An example ForwardSpawner subclass: start notebooks through a remote start service.

The service has the shape of the JupyterHub Outpost's /services API, the remote side the
reference's OutpostSpawner talked to:

    POST   {remote_url}                     {"name", "env", "user_options", "misc"}
                                            -> {"service": "host:port" | ""}
    GET    {remote_url}/{name}/{start_id}   -> {"status": null | exit code}  (404: gone)
    DELETE {remote_url}/{name}/{start_id}   (404: already gone)

With `remote_async`, the service answers at once with an empty address and the job calls
JUPYTERHUB_SETUPTUNNEL_URL when the notebook listens (the delayed scenario). Everything about
tunnels, Services and progress is ForwardSpawner's: this class only talks to the remote system.
"""

from __future__ import annotations

import json
from typing import Any, Optional
from urllib.parse import quote

from forwardspawner import ForwardSpawner
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from traitlets import Bool, Dict, Float, Unicode


class RemoteServiceSpawner(ForwardSpawner):
    remote_url = Unicode(
        "",
        config=True,
        help="URL of the remote start service, e.g. https://outpost.hpc.example.org/services.",
    )
    remote_headers = Dict(
        config=True,
        help="Headers for every request to the remote service, e.g. {'Authorization': 'Basic ...'}.",
    )
    remote_async = Bool(
        False,
        config=True,
        help="""Ask the service to start asynchronously (header `execution-type: async`): it
        answers with an empty address and the job calls setuptunnel later. Raise
        c.Spawner.http_timeout to cover the queue time.""",
    )
    remote_timeout = Float(60.0, config=True, help="Seconds one request to the remote service may take.")

    def _remote_server_url(self) -> str:
        name = quote(self.name or "default", safe="")
        return f"{self.remote_url.rstrip('/')}/{name}/{self.start_id}"

    async def _remote(self, method: str, url: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json", **self.remote_headers}
        if self.remote_async:
            headers["execution-type"] = "async"
        request = HTTPRequest(
            url,
            method=method,
            headers=headers,
            body=None if body is None else json.dumps(body),
            request_timeout=self.remote_timeout,
        )
        response = await AsyncHTTPClient().fetch(request, raise_error=False)
        try:
            answer = json.loads(response.body) if response.body else None
        except ValueError:
            answer = response.body.decode("utf-8", "replace")[:300]  # an error page, not JSON
        return response.code, answer

    async def _start(self) -> str:
        # Only the Jupyter variables travel: the hub's own environment stays in the hub.
        env = {k: v for k, v in self.get_env().items() if k.startswith(("JUPYTER_", "JUPYTERHUB_"))}
        body = {
            "name": self.name or "default",
            "env": env,
            "user_options": {**(self.user_options or {}), "start_id": self.start_id},
            "misc": {"port": self.port, "ip": self.ip},
        }
        code, answer = await self._remote("POST", self.remote_url, body)
        if code >= 400:
            raise RuntimeError(f"The remote start service answered {code}: {answer}")
        return (answer or {}).get("service", "")

    async def _poll(self) -> Optional[int]:
        code, answer = await self._remote("GET", self._remote_server_url())
        if code == 404:
            return 0
        if code >= 400 or not isinstance(answer, dict):
            # The remote service is in doubt: the server may well run, so say so.
            self.log.warning("Remote service poll for %s answered %s", self._log_name, code)
            return None
        return answer.get("status")

    async def _stop(self, now: bool = False) -> None:
        code, answer = await self._remote("DELETE", self._remote_server_url())
        if code >= 400 and code != 404:
            raise RuntimeError(f"The remote start service answered {code} to the stop: {answer}")
