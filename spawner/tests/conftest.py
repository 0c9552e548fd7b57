"""Fixtures: a fake facade per test and spawners built the way JupyterHub builds them."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any, Awaitable, Callable, Optional
from urllib.parse import quote

import pytest
from jupyterhub.objects import Hub
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from traitlets.config import Config

from forwardspawner import ForwardSpawner

from .fake_facade import FakeFacade


class Remote(ForwardSpawner):
    """A scriptable remote system: tests set `script` (what _start does) and `poll_status`."""

    script: Optional[Callable[[Remote], Awaitable[str]]] = None
    poll_status: Optional[int] = None

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.stop_calls: list[bool] = []

    async def _start(self) -> str:
        assert self.script is not None, "the test must set spawner.script"
        return await self.script(self)

    async def _poll(self) -> Optional[int]:
        return self.poll_status

    async def _stop(self, now: bool = False) -> None:
        self.stop_calls.append(now)


def build_spawner(
    facade: FakeFacade,
    *,
    cls: type = Remote,
    user: str = "alice",
    user_id: int = 7,
    server: str = "",
    **settings: Any,
) -> Any:
    config = Config()
    config.ForwardSpawner.facade_url = facade.url
    config.ForwardSpawner.facade_token = facade.token
    config.ForwardSpawner.facade_long_poll_seconds = 2
    config.ForwardSpawner.facade_retry_timeout = 1
    for key, value in settings.items():
        setattr(config.ForwardSpawner, key, value)
    hub_user = SimpleNamespace(name=user, id=user_id, url=f"/user/{quote(user)}/", escaped_name=quote(user))
    orm_spawner = SimpleNamespace(name=server, server=None, state=None, last_activity=None)
    return cls(user=hub_user, hub=Hub(), orm_spawner=orm_spawner, config=config, api_token="server-token")


@pytest.fixture
async def facade():
    fake = await FakeFacade().start()
    yield fake
    await fake.stop()


@pytest.fixture
def make_spawner(facade):
    return lambda **kw: build_spawner(facade, **kw)


async def post_json(url: str, body: dict[str, Any], token: str = "server-token") -> int:
    """POSTs like a remote job does (curl -H 'Authorization: token $JUPYTERHUB_API_TOKEN')."""
    request = HTTPRequest(
        url,
        method="POST",
        body=json.dumps(body),
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    response = await AsyncHTTPClient().fetch(request, raise_error=False)
    return response.code


async def collect(agen, until: Callable[[dict], bool] = lambda e: False, timeout: float = 10) -> list[dict]:
    """Events of a progress generator until it ends (or `until` matches), within `timeout`."""
    out: list[dict] = []

    async def run() -> None:
        async for event in agen:
            out.append(event)
            if until(event):
                return

    await asyncio.wait_for(run(), timeout)
    return out


def messages(events: list[dict]) -> list[str]:
    return [e.get("message") or e.get("html_message", "") for e in events]


async def spawn(spawner: Any) -> str:
    """start() as JupyterHub runs it: the spawn stays pending until the server answers, and
    the spawner follows the ForwardedServer until it is Ready."""
    spawner._spawn_pending = True
    return await spawner.start()
