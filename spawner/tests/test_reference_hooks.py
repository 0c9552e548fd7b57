"""The reference's subclass hooks, configured as the reference documents them, in a real
JupyterHub (from PyPI) with a subclass written for the reference (hub_remote.ReferenceRemote,
which imports `forwardbasespawner`). The facade is the in-process fake (contract 0001 E)."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from .fake_facade import FakeFacade
from .hub_harness import CHP, Hub, NotebookStub
from .test_hub import eventually, start, texts

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(not CHP.exists(), reason=f"configurable-http-proxy not installed at {CHP} (npm ci)"),
]

CHECKER_TOKEN = "checker-token-0123456789"

HOOKS = f"""
import os
c.JupyterHub.spawner_class = "hub_remote.ReferenceRemote"
c.ReferenceRemote.remote_control_url = c.ScriptedRemote.remote_control_url
c.ForwardSpawner.jump_node = ""
c.JupyterHub.custom_scopes = {{"custom:ref:check": {{"description": "check"}}}}
c.JupyterHub.services.append({{"name": "checker", "api_token": {CHECKER_TOKEN!r}}})
c.JupyterHub.load_roles.append({{"name": "checker", "services": ["checker"], "scopes": ["custom:ref:check"]}})

def ssh_node(spawner, port_forward_info):
    return "node-" + spawner.user_options.get("system", "none")

def pre_poll_hook(spawner):
    flag = os.path.join(os.getcwd(), "exit-" + spawner.user.name)
    return int(open(flag).read()) if os.path.exists(flag) else True

def log_hook(name):
    def hook(spawner, *args):
        spawner.log.info("HOOK %s %s %s", name, spawner._log_name, list(args))
        return args[0] if args else None
    return hook

c.ReferenceRemote.ssh_node = ssh_node
c.ReferenceRemote.ssh_node_mapping = lambda spawner, node: node + "-mapped"
c.ReferenceRemote.ssh_during_startup = lambda spawner: bool(spawner.user_options.get("address"))
c.ReferenceRemote.update_start_response = lambda spawner, resp: resp.replace("outpost-response:", "")
c.ReferenceRemote.update_expected_path = log_hook("update_expected_path")
c.ReferenceRemote.pre_stop_hook = log_hook("pre_stop_hook")
c.ReferenceRemote.pre_poll_hook = pre_poll_hook
c.ReferenceRemote.extra_labels = lambda spawner, user_options: {{"system": user_options.get("system", "")}}
c.ReferenceRemote.custom_port = lambda spawner, user_options: 40000 + spawner.user.id
c.ReferenceRemote.show_first_default_event = False
c.ReferenceRemote.filter_events = lambda spawner, event: (
    {{}} if event.get("message", "").startswith("noise")
    else {{**event, "message": "filtered: " + event["message"]}}
)
c.ReferenceRemote.cancelling_event = {{"progress": 99, "failed": False, "message": "Cancelling the job"}}
c.ReferenceRemote.public_api_url = "http://hub.example.org:8081/hub/api"
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory):
    facade = await FakeFacade().start()
    stub = await NotebookStub().start()
    hub = Hub(tmp_path_factory.mktemp("hub"), facade.url, facade.token, stub, extra_config=HOOKS)
    try:
        await hub.start()
        yield facade, stub, hub
    finally:
        await hub.stop()
        await stub.stop()
        await facade.stop()


def logged(hub: Hub) -> str:
    return hub.log_path.read_text(errors="replace")


async def test_start_hooks_shape_the_request_and_the_spawn_page(world):
    facade, stub, hub = world
    events = [
        {"progress": 30, "message": "job submitted"},
        {"progress": 31, "message": "noise from the batch system"},
    ]
    options = {"system": "juwels", "address": stub.address, "events": events}
    await start(hub, "rhea", "lab", options)
    shown = await hub.progress("rhea", "lab")
    said = texts(shown)
    # show_first_default_event=False: no "Server requested"; filter_events rewrote and hid events.
    assert "Server requested" not in said
    assert said[:3] == [
        "Waiting for the remote system to report its address",
        "Request sent to the remote system",
        "filtered: job submitted",
    ]
    assert not any("noise" in t for t in said)
    assert shown[-1]["ready"] is True
    progress = [e["progress"] for e in shown]
    assert progress == sorted(progress)

    spec = facade.record("rhea", "lab").spec
    assert spec["jumpNode"] == "node-juwels-mapped"  # ssh_node, then ssh_node_mapping
    assert spec["target"] == {"host": "127.0.0.1", "port": stub.port}  # update_start_response
    assert spec["labels"] == {"system": "juwels"}  # extra_labels(spawner, user_options)
    (put,) = [b for m, p, b in facade.requests if m == "PUT" and p.endswith("/rhea/lab")]
    assert "target" not in put
    log = logged(hub)
    assert "HOOK update_expected_path rhea:lab ['http://127.0.0.1:" in log
    assert "API_URL=http://hub.example.org:8081/hub/api" in log  # public_api_url
    port = (await hub.server_model("rhea", "lab"))["state"]["custom_port"]
    assert 40000 < port < 41000  # custom_port(spawner, user_options), kept in the state
    assert f"SERVICE_URL=http://0.0.0.0:{port}/user/rhea/lab/" in log


async def test_pre_poll_hook_decides_and_pre_stop_hook_runs_before_the_stop(world):
    facade, stub, hub = world
    await eventually(lambda: _has(hub, "HOOK _poll rhea:lab"), what="a poll through the pre_poll_hook")
    (hub.workdir / "exit-rhea").write_text("3")
    try:
        await eventually(lambda: _gone(hub, "rhea", "lab"), what="the hub to see the exit status")
    finally:
        (hub.workdir / "exit-rhea").unlink()
    log = logged(hub)
    assert "HOOK pre_stop_hook rhea:lab" in log
    assert log.index("HOOK pre_stop_hook rhea:lab") < log.index("HOOK _stop rhea:lab")
    assert facade.record("rhea", "lab") is None
    assert "rhea/lab" in stub.stopped


async def test_a_cancelled_start_shows_the_cancelling_event_then_one_terminal_event(world):
    facade, stub, hub = world
    await start(hub, "rhea", "queued", {"system": "juwels", "mode": "never"})
    progress = asyncio.ensure_future(hub.progress("rhea", "queued"))
    await eventually(
        lambda: _phase(facade, "rhea", "queued", "WaitingForTarget"), what="the start to wait for its target"
    )
    code, _ = await hub.api("DELETE", "/users/rhea/servers/queued")
    assert code in (202, 204)
    shown = await asyncio.wait_for(progress, 20)
    end = next(i for i, e in enumerate(shown) if e.get("failed") or e.get("ready"))
    assert texts(shown)[end - 1 : end + 1] == ["Cancelling the job", "Start cancelled"]
    assert shown[end]["failed"] is True
    await eventually(lambda: _gone(hub, "rhea", "queued"), what="the server to stop")
    assert facade.record("rhea", "queued") is None
    # ssh_during_startup returned False for a start without an address: delayed, never patched.
    assert not [p for m, p, _ in facade.requests if m == "PATCH" and p.endswith("/rhea/queued")]


async def test_check_custom_scopes_guards_a_subclass_handler(world):
    facade, stub, hub = world
    code, body = await hub.api("GET", "/refcheck", raise_error=False)
    assert code == 403 and "At least one of ['custom:ref:check'] is required" in body["message"]
    # The tester's token lacks the scope; the checker service's has it.
    response = await AsyncHTTPClient().fetch(
        HTTPRequest(hub.url + "/refcheck", headers={"Authorization": f"token {CHECKER_TOKEN}"}),
        raise_error=False,
    )
    assert response.code == 200 and b'"checked": true' in response.body


async def _has(hub: Hub, text: str) -> bool:
    return text in logged(hub)


async def _gone(hub: Hub, user: str, server: str) -> bool:
    return await hub.server_model(user, server) is None


async def _phase(facade: FakeFacade, user: str, server: str, phase: str) -> bool:
    rec = facade.record(user, server)
    return rec is not None and rec.status["phase"] == phase
