"""ForwardSpawner inside a real JupyterHub 5 (from PyPI) with configurable-http-proxy, driven
through JupyterHub's REST API the way the spawn page and the admin panel drive it. The facade
is the in-process fake (contract 0001 E); the remote system is hub_remote.ScriptedRemote.
"""

from __future__ import annotations

import asyncio
import re

import pytest
import pytest_asyncio

from .fake_facade import FakeFacade
from .hub_harness import CHP, Hub, NotebookStub

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(not CHP.exists(), reason=f"configurable-http-proxy not installed at {CHP} (npm ci)"),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory):
    facade = await FakeFacade().start()
    stub = await NotebookStub().start()
    hub = Hub(tmp_path_factory.mktemp("hub"), facade.url, facade.token, stub)
    try:
        await hub.start()
        yield facade, stub, hub
    finally:
        await hub.stop()
        await stub.stop()
        await facade.stop()


async def eventually(check, timeout: float = 15, what: str = "condition"):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def start(hub: Hub, user: str, server: str, options: dict) -> None:
    await hub.api("POST", f"/users/{user}", raise_error=False)
    path = f"/users/{user}/servers/{server}" if server else f"/users/{user}/server"
    code, _ = await hub.api("POST", path, options)
    assert code in (201, 202)


def texts(events: list[dict]) -> list[str]:
    return [e.get("message") or e.get("html_message", "") for e in events]


async def test_a_user_starts_a_forwarded_server_sees_remote_progress_and_stops_it(world):
    facade, stub, hub = world
    events = [{"progress": 30, "message": "Job submitted to the outpost"}]
    await start(hub, "alice", "", {"mode": "forward", "address": stub.address, "events": events})
    shown = await hub.progress("alice")

    assert texts(shown)[:4] == [
        "Server requested",
        "Waiting for the remote system to report its address",
        "Job submitted to the outpost",
        "Connecting through jump node hpc-login",
    ]
    assert shown[-1]["ready"] is True and shown[-1]["url"] == "/user/alice/"
    spec = facade.record("alice").spec
    assert re.fullmatch(r"[0-9a-f]{32}", spec["startId"]) and isinstance(spec["userId"], int)
    assert spec["target"] == {"host": "127.0.0.1", "port": stub.port} and spec["jumpNode"] == "hpc-login"
    assert facade.callback_tokens and all(t.startswith("token ") for t in facade.callback_tokens)
    assert (await hub.server_model("alice"))["ready"] is True

    await hub.api("DELETE", "/users/alice/server")
    await eventually(lambda: _gone(hub, "alice", ""), what="alice's server to stop")
    assert facade.record("alice") is None
    assert "alice/default" in stub.stopped


async def _gone(hub: Hub, user: str, server: str) -> bool:
    return await hub.server_model(user, server) is None


async def test_a_delayed_start_completes_when_the_batch_job_calls_setuptunnel(world):
    facade, stub, hub = world
    await start(hub, "bob", "batch", {"mode": "delayed", "address": stub.address, "after": 1.5})
    shown = await hub.progress("bob", "batch")
    assert "Waiting for the remote system to report its address" in texts(shown)
    assert shown[-1]["ready"] is True
    assert facade.record("bob", "batch").spec["target"]["port"] == stub.port
    await hub.api("DELETE", "/users/bob/servers/batch")
    await eventually(lambda: _gone(hub, "bob", "batch"), what="bob's server to stop")


async def test_cancelling_a_pending_start_cancels_the_forwarded_server(world):
    facade, stub, hub = world
    await start(hub, "carol", "queued", {"mode": "never"})
    progress = asyncio.ensure_future(hub.progress("carol", "queued"))
    await eventually(lambda: _phase(facade, "carol", "queued", "WaitingForTarget"), what="carol waiting")
    code, _ = await hub.api("DELETE", "/users/carol/servers/queued")
    assert code in (202, 204)
    shown = await asyncio.wait_for(progress, 20)
    # The spawn page closes its stream at the first failed event. (JupyterHub 5.5 itself then
    # sends "Server ready" for a cancelled spawn, before its stop clears the server.)
    end = next(e for e in shown if e.get("failed") or e.get("ready"))
    assert end == {"progress": 100, "failed": True, "message": "Start cancelled"}, shown
    # One terminal event of the spawner; JupyterHub closes the stream with its own.
    assert texts(shown).count("Start cancelled") == 1, shown
    assert texts(shown)[-1] == "Spawn cancelled", shown
    await eventually(lambda: _gone(hub, "carol", "queued"), what="carol's server to stop")
    calls = [
        (m, p)
        for m, p, _ in facade.requests
        if p.startswith("/api/forwardedservers/carol/queued") and m != "GET"
    ]
    assert calls[-2:] == [
        ("POST", "/api/forwardedservers/carol/queued/cancel"),
        ("DELETE", "/api/forwardedservers/carol/queued"),
    ]
    assert facade.record("carol", "queued") is None
    assert "carol/queued" in stub.stopped


async def test_cancelling_a_start_that_already_returned_its_url_shows_the_cancel(world):
    """The operator reports a delayed start's URL before the target is known, so start() returns
    and JupyterHub waits for the server; a cancel then must not show "Server ready"."""
    facade, stub, hub = world
    facade.url_while_waiting = "http://127.0.0.1:9"  # nothing answers: the hub keeps waiting
    try:
        await start(hub, "erin", "queued", {"mode": "never"})
        progress = asyncio.ensure_future(hub.progress("erin", "queued"))
        await eventually(
            lambda: _logged(hub, "Started erin:queued at http://127.0.0.1:9"), what="start() to return"
        )
        code, _ = await hub.api("DELETE", "/users/erin/servers/queued")
        assert code in (202, 204)
        shown = await asyncio.wait_for(progress, 20)
        assert not any(e.get("ready") for e in shown), shown
        assert shown[-1] == {"progress": 100, "failed": True, "message": "Start cancelled"}, shown
        await eventually(lambda: _gone(hub, "erin", "queued"), what="erin's server to stop")
        assert facade.record("erin", "queued") is None
    finally:
        facade.url_while_waiting = ""


async def test_a_server_that_ends_while_the_hub_waits_for_it_ends_the_spawn(world):
    """start() returned (the operator reported the URL) and JupyterHub waits for the server to
    answer, polling it meanwhile; a poll that finds it ended ends the spawn with one failed
    event that says so, instead of JupyterHub waiting out http_timeout."""
    facade, stub, hub = world
    facade.url_while_waiting = "http://127.0.0.1:9"  # nothing answers: the hub keeps waiting
    try:
        await start(hub, "fred", "ended", {"mode": "never", "exit_status": 3})
        shown = await asyncio.wait_for(hub.progress("fred", "ended", timeout=90), 90)
    finally:
        facade.url_while_waiting = ""
    assert not any(e.get("ready") for e in shown), shown
    failed = [e for e in shown if e.get("failed")]
    ended = "Start failed: the server stopped before it was ready (exit status 3)"
    assert failed[0]["message"] == ended, shown
    # After it, at most JupyterHub's own closing event, which the spawn page no longer reads.
    after = [e.get("message") for e in shown[shown.index(failed[0]) + 1 :]]
    assert after in ([], ["Spawn cancelled"]), shown
    await eventually(lambda: _gone(hub, "fred", "ended"), what="fred's server to stop")
    assert facade.record("fred", "ended") is None
    assert "fred/ended" in stub.stopped


async def _logged(hub: Hub, text: str) -> bool:
    return text in hub.log_path.read_text(errors="replace")


async def _phase(facade: FakeFacade, user: str, server: str, phase: str) -> bool:
    rec = facade.record(user, server)
    return rec is not None and rec.status["phase"] == phase


@pytest.mark.parametrize("early_url", [False, True], ids=["before-url", "after-url"])
async def test_a_failed_event_from_the_remote_side_ends_the_spawn_with_its_reason(world, early_url):
    facade, stub, hub = world
    user = f"dora{int(early_url)}"
    # After-url: start() has returned and JupyterHub is waiting for a server that does not answer.
    facade.url_while_waiting = f"http://{stub.address}" if early_url else ""
    stub.unready.add(user)
    try:
        await start(hub, user, "", {"mode": "fail", "after": 1.5, "reason": "Node crashed during startup"})
        shown = await asyncio.wait_for(hub.progress(user), 15)
    finally:
        facade.url_while_waiting = ""
    failed = [e for e in shown if e.get("failed")]
    assert failed and failed[0]["message"] == "Node crashed during startup"
    await eventually(lambda: _gone(hub, user, ""), timeout=10, what=f"{user}'s server to stop")
    assert facade.record(user) is None
    assert f"{user}/default" in stub.stopped


async def test_a_running_server_survives_a_hub_restart_while_the_facade_is_down(world):
    facade, stub, hub = world
    await start(hub, "erin", "lab", {"mode": "forward", "address": stub.address})
    assert (await hub.progress("erin", "lab"))[-1]["ready"] is True
    start_id = facade.record("erin", "lab").spec["startId"]

    await hub.stop()
    facade.unavailable = True
    try:
        await hub.start()
        model = await hub.server_model("erin", "lab")
        assert model is not None and model["ready"] is True, hub.log_tail()
    finally:
        facade.unavailable = False
    # The restarted hub still knows the start attempt: it polls and stops the same server.
    await asyncio.sleep(2.5)
    assert (await hub.server_model("erin", "lab"))["ready"] is True
    assert facade.record("erin", "lab").spec["startId"] == start_id
    await hub.api("DELETE", "/users/erin/servers/lab")
    await eventually(lambda: _gone(hub, "erin", "lab"), what="erin's server to stop")
    assert facade.record("erin", "lab") is None
    assert "erin/lab" in stub.stopped
