"""The "remote system" a real JupyterHub drives in test_hub.py: a ForwardSpawner subclass.

It does what a batch system or an Outpost does, steered by the user options of the start
request: it posts progress events to JUPYTERHUB_EVENTS_URL with the server's own token, and
either returns the notebook's address at once (forward), or calls JUPYTERHUB_SETUPTUNNEL_URL
later (delayed), or reports a failure later (fail), or never finishes (never); `_poll` reports
the user option `exit_status` (the server ended) when it is given. The notebook
itself is a stub the test runs; `_stop` tells that stub, so the test sees remote stops.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from traitlets import Unicode

from forwardspawner import ForwardSpawner


class ScriptedRemote(ForwardSpawner):
    remote_control_url = Unicode("", config=True, help="Base URL of the test's notebook stub.")

    async def _post(self, url: str, body: dict[str, Any]) -> int:
        request = HTTPRequest(
            url,
            method="POST",
            body=json.dumps(body),
            headers={"Authorization": f"token {self.api_token}", "Content-Type": "application/json"},
        )
        response = await AsyncHTTPClient().fetch(request, raise_error=False)
        self.log.info("Remote posted to %s: %s", url, response.code)
        return response.code

    async def _later(self, delay: float, url: str, body: dict[str, Any]) -> None:
        await asyncio.sleep(delay)
        await self._post(url, body)

    async def _start(self) -> str:
        options = self.user_options or {}
        env = self.get_env()
        for event in options.get("events", []):
            await self._post(env["JUPYTERHUB_EVENTS_URL"], event)
        await asyncio.sleep(float(options.get("start_seconds", 0.5)))
        mode = options.get("mode", "forward")
        address = options.get("address", "")
        delay = float(options.get("after", 1.0))
        if mode == "forward":
            return address
        if mode == "delayed":
            body = {"service": address}
            asyncio.ensure_future(self._later(delay, env["JUPYTERHUB_SETUPTUNNEL_URL"], body))
        elif mode == "fail":
            failed = {"failed": True, "progress": 100, "message": options.get("reason", "Job failed")}
            asyncio.ensure_future(self._later(delay, env["JUPYTERHUB_EVENTS_URL"], failed))
        return ""

    async def _poll(self) -> Any:
        # `exit_status`: the remote system reports the server ended (None: it runs).
        status = (self.user_options or {}).get("exit_status")
        return None if status is None else int(status)

    async def _stop(self, now: bool = False) -> None:
        name = self.name or "default"
        await self._post(f"{self.remote_control_url}/_remote/stopped/{self.user.name}/{name}", {})


# A subclass written for the reference: it imports the reference's module names (provided by
# this package) and adds a hub API handler guarded by check_custom_scopes, as the reference's
# subclass packages do.
from jupyterhub.apihandlers import APIHandler, default_handlers  # noqa: E402
from jupyterhub.utils import token_authenticated  # noqa: E402

from forwardbasespawner import ForwardBaseSpawner  # noqa: E402
from forwardbasespawner.utils import check_custom_scopes  # noqa: E402


class ScopeCheckHandler(APIHandler):
    required_scopes = ["custom:ref:check"]

    @token_authenticated
    def get(self) -> None:
        check_custom_scopes(self)
        self.finish({"checked": True})


default_handlers.append((r"/api/refcheck", ScopeCheckHandler))


class ReferenceRemote(ForwardBaseSpawner):
    """Like ScriptedRemote, written the reference's way: events appended to `self.events`, an
    Outpost-style start response the `update_start_response` hook unwraps, `_stop(**kwargs)`."""

    remote_control_url = Unicode("", config=True)
    _post = ScriptedRemote._post

    async def _start(self) -> str:
        options = self.user_options or {}
        env = self.get_env()
        self.log.info(
            "HOOK env API_URL=%s SERVICE_URL=%s", env["JUPYTERHUB_API_URL"], env["JUPYTERHUB_SERVICE_URL"]
        )
        self.events.append({"progress": 25, "message": "Request sent to the remote system"})
        for event in options.get("events", []):
            await self._post(env["JUPYTERHUB_EVENTS_URL"], event)
        await asyncio.sleep(0.5)
        if options.get("mode") == "never":
            return ""
        return f"outpost-response:{options['address']}"

    async def _poll(self) -> Any:
        self.log.info("HOOK _poll %s", self._log_name)
        return None

    async def _stop(self, **kwargs: Any) -> None:
        self.log.info("HOOK _stop %s now=%s", self._log_name, kwargs.get("now"))
        await ScriptedRemote._stop(self)
