"""Async client of the facade's spawner API (contract 0001 section E).

Every call runs on the event loop (tornado's AsyncHTTPClient); nothing blocks the hub (W-6).
Each client owns its own AsyncHTTPClient instance, so long-polls never take the connection
slots of the hub's shared client (which JupyterHub uses to reach the proxy and servers).
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any, Awaitable, Callable, Optional, TypeVar
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse

from .objects import server_path

T = TypeVar("T")

# Answers worth retrying: no answer at all (599), overload and gateway trouble.
_TRANSIENT = {429, 502, 503, 504, 599}


class FacadeError(Exception):
    """The facade refused a request or could not be reached (status 599)."""

    def __init__(self, status: int, message: str, method: str, url: str):
        self.status = status
        self.message = message
        self.method = method
        self.url = url
        super().__init__(str(self))

    @property
    def transient(self) -> bool:
        return self.status in _TRANSIENT or self.status >= 500

    def __str__(self) -> str:
        if self.status == 599:
            return f"the forward facade at {self.url} is unreachable: {self.message}"
        return f"the forward facade answered {self.method} {self.url} with {self.status}: {self.message}"


def _message(response: HTTPResponse) -> str:
    # Errors come as JupyterHub's {"status": n, "message": "..."}; anything else is shown raw.
    body = response.body or b""
    try:
        data = json.loads(body)
        if isinstance(data, dict) and data.get("message"):
            return str(data["message"])
    except ValueError:
        pass
    text = body.decode("utf-8", "replace").strip()[:500]
    return text or response.reason or "no message"


class FacadeClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        request_timeout: float = 20.0,
        retry_timeout: float = 15.0,
        validate_cert: bool = True,
        ca_certs: Optional[str] = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.request_timeout = request_timeout
        self.retry_timeout = retry_timeout
        self.validate_cert = validate_cert
        self.ca_certs = ca_certs or None
        self.http = AsyncHTTPClient(force_instance=True, max_clients=16)

    async def _fetch(
        self, method: str, path: str, body: Any = None, query: Optional[dict] = None, wait: float = 0
    ) -> tuple[int, Any]:
        url = self.base_url + path + (f"?{urlencode(query)}" if query else "")
        headers = {"Authorization": f"token {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body)
        elif method in ("PUT", "POST", "PATCH"):
            data = ""
        request = HTTPRequest(
            url,
            method=method,
            headers=headers,
            body=data,
            connect_timeout=self.request_timeout,
            request_timeout=self.request_timeout + wait,
            validate_cert=self.validate_cert,
            ca_certs=self.ca_certs,
        )
        try:
            response = await self.http.fetch(request, raise_error=False)
        except (HTTPClientError, OSError) as e:
            raise FacadeError(599, str(e), method, url) from e
        if response.code == 599:
            raise FacadeError(599, str(response.error or "no answer"), method, url)
        if response.code >= 400:
            raise FacadeError(response.code, _message(response), method, url)
        if not response.body:
            return response.code, None
        try:
            return response.code, json.loads(response.body)
        except ValueError as e:
            raise FacadeError(502, f"answer is not JSON: {e}", method, url) from e

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """Retries transient failures with capped, jittered exponential backoff."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_timeout
        delay = 0.2
        while True:
            try:
                return await call()
            except FacadeError as e:
                if not e.transient or loop.time() + delay > deadline:
                    raise
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, 5.0)

    async def put_server(self, user: str, server: str, body: dict[str, Any]) -> dict[str, Any]:
        """Creates or replaces the ForwardedServer of a start attempt; returns the server view."""
        path = server_path(user, server)
        _, view = await self._retrying(lambda: self._fetch("PUT", path, body))
        return view or {}

    async def patch_server(self, user: str, server: str, body: dict[str, Any]) -> dict[str, Any]:
        """Sets the target of a start attempt's ForwardedServer unless one is set; returns the view."""
        path = server_path(user, server)
        _, view = await self._retrying(lambda: self._fetch("PATCH", path, body))
        return view or {}

    async def get_server(
        self, user: str, server: str, *, after: Optional[int] = None, wait: float = 0
    ) -> Optional[dict[str, Any]]:
        """The server view, or None if there is no ForwardedServer (404). One try, no retry.

        With `after` and `wait`, the facade holds the request until more than `after` events
        exist or the phase changes, at most `wait` seconds.
        """
        query = {"after": after, "wait": int(wait)} if after is not None and wait > 0 else None
        try:
            _, view = await self._fetch("GET", server_path(user, server), query=query, wait=wait)
        except FacadeError as e:
            if e.status == 404:
                return None
            raise
        return view or {}

    async def cancel(self, user: str, server: str, start_id: str = "") -> bool:
        """Asks the facade to cancel the start attempt; False if there is nothing to cancel.

        With `start_id`, the facade refuses (409) to cancel a newer start attempt.
        """
        path = server_path(user, server) + "/cancel"
        query = {"start_id": start_id} if start_id else None
        return await self._absent_is_false("POST", path, query)

    async def delete_server(self, user: str, server: str) -> bool:
        """Deletes the ForwardedServer (its Service and tunnel go with it); False if absent."""
        return await self._absent_is_false("DELETE", server_path(user, server))

    async def _absent_is_false(self, method: str, path: str, query: Optional[dict] = None) -> bool:
        try:
            await self._retrying(lambda: self._fetch(method, path, query=query))
        except FacadeError as e:
            if e.status == 404:
                return False
            raise
        return True
