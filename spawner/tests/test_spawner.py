"""ForwardSpawner against the fake facade: what a user and a remote system notice."""

from __future__ import annotations

import asyncio
import re

import pytest

from forwardspawner import FacadeError, ForwardBaseSpawner, ForwardSpawner, StartAborted

from .conftest import collect, messages, post_json, spawn


def returns(address: str):
    async def script(spawner):
        return address

    return script


async def registered(facade, user: str = "alice", server: str = "") -> None:
    """Waits until a pending start's one PUT has created its ForwardedServer."""

    async def wait() -> None:
        while True:
            if facade.record(user, server) is not None:
                return
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), 10)


async def test_forward_start_creates_the_server_then_adds_the_target_and_returns_the_url(
    make_spawner, facade
):
    spawner = make_spawner(jump_node="hpc-login", service_port=8080, extra_labels={"team": "a"})
    spawner.script = returns("http://10.0.0.5:43127")
    url = await spawn(spawner)

    assert url == "http://10.0.0.5:43127"
    assert re.fullmatch(r"[0-9a-f]{32}", spawner.start_id)
    puts = [body for method, _, body in facade.requests if method == "PUT"]
    base = {
        "userId": 7,
        "startId": spawner.start_id,
        "jumpNode": "hpc-login",
        "servicePort": 8080,
        "labels": {"team": "a"},
    }
    assert puts == [base]
    patches = [body for method, _, body in facade.requests if method == "PATCH"]
    assert patches == [
        {"startId": spawner.start_id, "target": {"host": "10.0.0.5", "port": 43127}, "jumpNode": "hpc-login"}
    ]
    shown = messages(await collect(spawner.progress()))
    assert shown == [
        "Waiting for the remote system to report its address",
        "Connecting through jump node hpc-login",
        "Tunnel ready",
    ]


async def test_direct_start_sends_no_jump_node(make_spawner, facade):
    spawner = make_spawner(jump_node="hpc-login", scenario="direct")
    spawner.script = returns("outpost-svc.remote:8888")
    assert await spawn(spawner) == "http://outpost-svc.remote:8888"
    sent = [(method, body) for method, _, body in facade.requests if method in ("PUT", "PATCH")]
    assert [(m, "jumpNode" in b, b.get("target")) for m, b in sent] == [
        ("PUT", False, None),
        ("PATCH", False, {"host": "outpost-svc.remote", "port": 8888}),
    ]
    assert "Service ready" in messages(await collect(spawner.progress()))
    assert spawner.get_state()["scenario"] == "direct"


async def test_delayed_start_completes_when_the_remote_side_calls_setuptunnel(make_spawner, facade):
    spawner = make_spawner(jump_node="hpc-login")

    async def batch_job(sp):
        env = sp.get_env()

        async def later():
            await asyncio.sleep(0.3)
            code = await post_json(env["JUPYTERHUB_SETUPTUNNEL_URL"], {"service": "node17:40001"})
            assert code == 204

        asyncio.ensure_future(later())
        return ""

    spawner.script = batch_job
    assert await spawn(spawner) == "http://node17:40001"
    assert len([m for m, _, _ in facade.requests if m == "PUT"]) == 1
    assert facade.record("alice").spec["target"] == {"host": "node17", "port": 40001}
    assert messages(await collect(spawner.progress())) == [
        "Waiting for the remote system to report its address",
        "Connecting through jump node hpc-login",
        "Tunnel ready",
    ]
    assert spawner.get_state()["scenario"] == "delayed"


async def test_delayed_start_returns_an_early_url_unless_told_to_wait_for_ready(make_spawner, facade):
    facade.url_while_waiting = "http://jupyter-alice.jhub.svc:8888"
    quick = make_spawner()
    quick.script = returns("")
    assert await asyncio.wait_for(quick.start(), 5) == "http://jupyter-alice.jhub.svc:8888"

    patient = make_spawner(server="gpu", wait_for_ready=True)
    patient.script = returns("")
    pending = asyncio.ensure_future(patient.start())
    await registered(facade, server="gpu")
    assert not pending.done()
    code = await post_json(patient.get_env()["JUPYTERHUB_SETUPTUNNEL_URL"], {"service": "node3:9000"})
    assert code == 204
    assert await asyncio.wait_for(pending, 5) == "http://node3:9000"


async def test_progress_shows_what_the_remote_system_posts_while_it_starts(make_spawner, facade):
    spawner = make_spawner(jump_node="hpc-login")

    async def outpost(sp):
        env = sp.get_env()
        for progress, text in ((30, "Job submitted"), (50, "Job running on node17")):
            assert (
                await post_json(env["JUPYTERHUB_EVENTS_URL"], {"progress": progress, "message": text}) == 204
            )
        await asyncio.sleep(0.2)
        return "node17:40001"

    spawner.script = outpost
    await spawn(spawner)
    events = await collect(spawner.progress())
    assert messages(events) == [
        "Waiting for the remote system to report its address",
        "Job submitted",
        "Job running on node17",
        "Connecting through jump node hpc-login",
        "Tunnel ready",
    ]
    assert [e["progress"] for e in events] == [20, 30, 50, 60, 90]
    assert facade.callback_tokens == ["token server-token"] * 2
    # A second spawn page (a reload) sees the whole history again.
    assert messages(await collect(spawner.progress())) == messages(events)


async def test_a_failed_event_from_the_remote_side_ends_the_start_with_its_message(make_spawner, facade):
    spawner = make_spawner(jump_node="hpc-login")

    async def doomed(sp):
        failed = {
            "failed": True,
            "progress": 100,
            "html_message": "<details><summary>Quota exceeded</summary>project x</details>",
        }
        assert await post_json(sp.get_env()["JUPYTERHUB_EVENTS_URL"], failed) == 204
        return ""

    spawner.script = doomed
    with pytest.raises(StartAborted, match="^Quota exceeded project x$") as info:
        await asyncio.wait_for(spawner.start(), 5)
    assert "<summary>Quota exceeded</summary>" in info.value.jupyterhub_html_message
    events = await collect(spawner.progress())
    assert events[-1]["failed"] is True and "Quota exceeded" in events[-1]["html_message"]
    assert sum(1 for e in events if e.get("failed")) == 1


async def test_a_cancel_through_the_facade_ends_a_pending_start(make_spawner, facade):
    spawner = make_spawner()
    spawner.script = returns("")
    pending = asyncio.ensure_future(spawner.start())
    await registered(facade)
    facade.record("alice").spec["cancelRequested"] = True
    facade.reconcile(facade.record("alice"))
    with pytest.raises(StartAborted, match="Start cancelled"):
        await asyncio.wait_for(pending, 5)
    events = await collect(spawner.progress())
    # One terminal event: "Start cancelled" (Cancelling) or the operator's (Cancelled).
    assert [e for e in events if e.get("failed")] == [events[-1]]
    assert events[-1]["message"].startswith("Start cancelled")


async def test_stop_while_the_start_is_pending_cancels_it_and_cleans_up(make_spawner, facade):
    spawner = make_spawner(server="gpu", jump_node="hpc-login")
    spawner.script = returns("")
    pending = asyncio.ensure_future(spawner.start())
    await asyncio.sleep(0.2)
    # JupyterHub >= 5.1: DELETE on a pending server cancels the spawn, then stops the server.
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    assert await spawner.poll() is None
    await spawner.stop()

    calls = [(m, p) for m, p, _ in facade.requests if m in ("POST", "DELETE")]
    assert calls == [
        ("POST", "/api/forwardedservers/alice/gpu/cancel"),
        ("DELETE", "/api/forwardedservers/alice/gpu"),
    ]
    assert f"POST /api/forwardedservers/alice/gpu/cancel?start_id={spawner.start_id}" in facade.uris
    assert spawner.stop_calls == [False]
    assert facade.record("alice", "gpu") is None
    events = await collect(spawner.progress())
    assert events[-1] == {"progress": 100, "failed": True, "message": "Start cancelled"}


async def test_a_start_timeout_says_so_on_the_spawn_page(make_spawner, facade):
    spawner = make_spawner(start_timeout=1)
    spawner.script = returns("")
    # JupyterHub runs start() under asyncio.wait_for(start(), start_timeout).
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(spawner.start(), spawner.start_timeout)
    last = spawner.events[-1]
    assert last["failed"] is True and last["message"].startswith("Start timed out after 1 s")


async def test_a_failing_remote_start_is_shown_and_raised(make_spawner):
    spawner = make_spawner()

    async def broken(sp):
        raise RuntimeError("sbatch: error: invalid partition")

    spawner.script = broken
    with pytest.raises(RuntimeError, match="invalid partition"):
        await spawner.start()
    last = spawner.events[-1]
    assert last["failed"] and last["message"] == "Start failed: sbatch: error: invalid partition"


@pytest.mark.parametrize(
    "settings, address, error",
    [
        ({"scenario": "forward"}, "node:1", "needs a jump node"),
        ({}, "node", "is not [http(s)://]host:port"),
    ],
)
async def test_a_start_that_cannot_be_reached_fails_clearly(make_spawner, settings, address, error):
    spawner = make_spawner(**settings)
    spawner.script = returns(address)
    with pytest.raises(StartAborted, match=re.escape(error)):
        await spawner.start()
    assert spawner.events[-1]["failed"] is True


async def test_a_refused_request_fails_the_start_with_the_facade_message(make_spawner, facade):
    spawner = make_spawner()
    facade.token = "another-token"
    spawner.script = returns("node:1")
    with pytest.raises(StartAborted, match="403: Missing or invalid credentials"):
        await spawner.start()


async def test_a_facade_outage_during_a_pending_start_is_waited_out(make_spawner, facade):
    spawner = make_spawner(jump_node="hpc-login")
    spawner.script = returns("")
    pending = asyncio.ensure_future(spawner.start())
    await registered(facade)
    facade.unavailable = True
    await asyncio.sleep(1.5)
    assert not pending.done()
    facade.unavailable = False
    rec = facade.record("alice")
    rec.spec["target"] = {"host": "node9", "port": 7000}
    facade.reconcile(rec)
    assert await asyncio.wait_for(pending, 10) == "http://node9:7000"


async def started(make_spawner, **kw):
    spawner = make_spawner(jump_node="hpc-login", **kw)
    spawner.script = returns("node17:40001")
    await spawner.start()
    return spawner


async def test_poll_running_while_the_tunnel_reconnects(make_spawner, facade):
    spawner = await started(make_spawner)
    await asyncio.sleep(0.1)
    assert await spawner.poll() is None
    facade.set_status("alice", phase="Connecting")
    assert await spawner.poll() is None
    assert spawner.stop_calls == []


async def test_poll_unknown_is_running_when_the_facade_is_down(make_spawner, facade):
    spawner = await started(make_spawner)
    facade.unavailable = True
    assert await spawner.poll() is None
    await facade.stop()
    assert await spawner.poll() is None
    assert spawner.stop_calls == []


@pytest.mark.parametrize(
    "change, status",
    [
        ("deleted", 0),
        ("failed", 1),
        ("cancelled", 0),
        ("remote-exit", 3),
    ],
)
async def test_poll_reports_a_stopped_server_and_cleans_up_once(make_spawner, facade, change, status):
    spawner = await started(make_spawner)
    if change == "deleted":
        del facade.records[("alice", "")]
    elif change == "failed":
        facade.set_status("alice", phase="Failed")
    elif change == "cancelled":
        facade.set_status("alice", phase="Cancelled")
    else:
        spawner.poll_status = 3
    assert await spawner.poll() == status
    assert await spawner.poll() == status
    assert spawner.stop_calls == [True]
    assert facade.record("alice") is None


async def test_poll_leaves_a_server_that_another_start_attempt_took_over(make_spawner, facade):
    spawner = await started(make_spawner)
    facade.record("alice").spec["startId"] = "someone-elses-attempt"
    assert await spawner.poll() == 0
    assert facade.record("alice") is not None
    assert not [m for m, _, _ in facade.requests if m in ("POST", "DELETE")]


async def test_stop_runs_the_remote_stop_and_deletes_the_server(make_spawner, facade):
    spawner = await started(make_spawner, server="gpu")
    await spawner.stop(now=True)
    assert spawner.stop_calls == [True]
    assert [(m, p) for m, p, _ in facade.requests if m in ("POST", "DELETE")] == [
        ("DELETE", "/api/forwardedservers/alice/gpu")
    ]
    assert await spawner.poll() == 0
    # Stopping a server the facade no longer has is fine, and a dead facade does not fail a stop.
    spawner.clear_state()
    spawner.load_state({"start_id": "a" * 32})
    await spawner.stop()
    await facade.stop()
    spawner.clear_state()
    spawner.load_state({"start_id": "b" * 32})
    await spawner.stop()
    assert spawner.stop_calls == [True, False, False]


async def test_state_survives_a_hub_restart_and_a_stop_gives_a_fresh_start_id(make_spawner, facade):
    first = await started(make_spawner, server="gpu")
    state = first.get_state()
    assert state == {
        "start_id": first.start_id,
        "forwarded_server": "jupyter-alice--gpu",
        "scenario": "forward",
        "port_forward_info": {"service": "node17:40001", "ssh_node": "hpc-login"},
    }
    restarted = make_spawner(server="gpu", jump_node="hpc-login")
    restarted.load_state(state)
    assert restarted.get_state() == state
    assert await restarted.poll() is None
    await restarted.stop()
    restarted.clear_state()
    assert restarted.get_state() == {}
    restarted.script = returns("node17:40002")
    await restarted.start()
    assert restarted.start_id not in ("", first.start_id)


async def test_env_points_remote_jobs_at_the_facade(make_spawner, facade):
    spawner = make_spawner(
        user="a b@x.org", user_id=42, server="gpu", facade_public_url="https://fwd.example.org"
    )
    spawner.start_id = "c" * 32
    env = spawner.get_env()
    assert (
        env["JUPYTERHUB_EVENTS_URL"]
        == f"https://fwd.example.org/api/users/progress/events/a%20b@x.org/gpu?start_id={'c' * 32}"
    )
    assert (
        env["JUPYTERHUB_SETUPTUNNEL_URL"]
        == f"https://fwd.example.org/api/users/setuptunnel/a%20b@x.org/gpu?start_id={'c' * 32}"
    )
    assert env["JUPYTERHUB_USER_ID"] == "42"
    assert env["JUPYTERHUB_API_TOKEN"] == "server-token"
    assert env["JUPYTERHUB_SERVICE_URL"].startswith("http://0.0.0.0:")


async def test_a_stale_callback_is_refused_by_start_id(make_spawner, facade):
    spawner = await started(make_spawner)
    old_env = spawner.get_env()
    await spawner.stop()
    spawner.clear_state()
    spawner.script = returns("")
    pending = asyncio.ensure_future(spawner.start())
    await registered(facade)  # the old one was deleted by the stop
    assert await post_json(old_env["JUPYTERHUB_SETUPTUNNEL_URL"], {"service": "old:1"}) == 409
    assert await post_json(spawner.get_env()["JUPYTERHUB_SETUPTUNNEL_URL"], {"service": "new:2"}) == 204
    assert await asyncio.wait_for(pending, 5) == "http://new:2"


async def test_settings_may_be_callables_and_coroutines(make_spawner, facade):
    async def pick_node(spawner, port_forward_info):
        return f"login-{spawner.user_options['system']}"

    spawner = make_spawner(
        jump_node=pick_node,
        extra_labels=lambda s: {"system": s.user_options["system"]},
        scenario=lambda s, address: "forward",
    )
    spawner.user_options = {"system": "juwels"}
    spawner.script = returns("node:1")
    await spawner.start()
    (put,) = [body for method, _, body in facade.requests if method == "PUT"]
    (patch,) = [body for method, _, body in facade.requests if method == "PATCH"]
    assert put["jumpNode"] == patch["jumpNode"] == "login-juwels"
    assert put["labels"] == {"system": "juwels"}
    assert patch["target"] == {"host": "node", "port": 1}


async def test_a_subclass_may_choose_the_jump_node_in_port_forward_info(make_spawner, facade):
    spawner = make_spawner()

    async def per_system(sp):
        sp.port_forward_info["ssh_node"] = "juwels-login"
        return "node:1"

    spawner.script = per_system
    await spawner.start()
    assert [(m, b.get("jumpNode")) for m, _, b in facade.requests if m in ("PUT", "PATCH")] == [
        ("PUT", None),
        ("PATCH", "juwels-login"),
    ]
    assert facade.record("alice").spec["jumpNode"] == "juwels-login"


async def test_a_jump_node_chosen_in_start_that_contradicts_the_registered_one_is_a_clear_error(
    make_spawner, facade
):
    spawner = make_spawner(jump_node="default-node")

    async def per_system(sp):
        sp.port_forward_info["ssh_node"] = "juwels-login"
        return "node:1"

    spawner.script = per_system
    with pytest.raises(StartAborted, match="'juwels-login'.*registered with 'default-node'"):
        await spawner.start()
    assert not [m for m, _, _ in facade.requests if m == "PATCH"]


def test_instances_share_no_mutable_state(make_spawner):
    a, b = make_spawner(), make_spawner()
    a.port_forward_info["service"] = "x:1"
    a.events.append({"message": "only a"})
    assert b.port_forward_info == {} and b.events == []


def test_the_reference_class_name_still_works(facade):
    from traitlets.config import Config

    class Legacy(ForwardBaseSpawner):
        async def _start(self):
            return "node:1"

    config = Config()
    config.ForwardBaseSpawner.jump_node = "from-legacy-section"
    assert Legacy(config=config).jump_node == "from-legacy-section"
    assert issubclass(Legacy, ForwardSpawner)


async def test_a_missing_facade_url_is_a_clear_error(make_spawner):
    spawner = make_spawner(facade_url="")
    spawner.script = returns("node:1")
    with pytest.raises(ValueError, match="facade_url is not set"):
        await spawner.start()


async def test_facade_error_text_names_the_request(facade):
    from forwardspawner import FacadeClient

    client = FacadeClient(facade.url, "wrong", retry_timeout=0.5)
    with pytest.raises(FacadeError) as info:
        await client.put_server("alice", "", {"userId": 1, "startId": "x"})
    path = f"{facade.url}/api/forwardedservers/alice"
    assert (
        str(info.value) == f"the forward facade answered PUT {path} with 403: Missing or invalid credentials."
    )
    await facade.stop()
    with pytest.raises(FacadeError, match="is unreachable"):
        await client.delete_server("alice", "")
