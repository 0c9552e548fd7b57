"""ForwardBaseSpawner: the reference's subclass surface (decision 0042), against the fake facade."""

from __future__ import annotations

import asyncio
import importlib
from types import SimpleNamespace

import pytest
from tornado.web import HTTPError

from forwardspawner import ForwardBaseSpawner

from .conftest import Remote, build_spawner, collect, messages

# Every public member of ForwardBaseSpawner 2.1.2 a subclass can reach (attributes, traits,
# hooks and helpers), and the private ones its subclasses call.
REFERENCE_SURFACE = [
    "port_forward_info",
    "port_forwarded",
    "start_id",
    "call_during_startup",
    "already_stopped",
    "already_post_stop_hooked",
    "events",
    "last_event",
    "yield_wait_seconds",
    "extra_labels",
    "custom_port",
    "port",
    "ssh_recreate_at_start",
    "ssh_during_startup",
    "ssh_key",
    "ssh_remote_key",
    "ssh_username",
    "ssh_remote_username",
    "ssh_node",
    "svc_create",
    "ssh_node_mapping",
    "ssh_remote_node",
    "ssh_port",
    "ssh_remote_port",
    "ssh_custom_forward_remote",
    "ssh_custom_forward_remote_remove",
    "pre_stop_hook",
    "run_pre_stop_hook",
    "pre_poll_hook",
    "run_pre_poll_hook",
    "update_expected_path",
    "run_update_expected_path",
    "update_start_response",
    "run_update_start_response",
    "ssh_create_remote_forward",
    "get_ssh_create_remote_forward",
    "ssh_custom_forward",
    "ssh_custom_forward_remove",
    "ssh_custom_svc",
    "ssh_custom_svc_remove",
    "ssh_forward_options",
    "get_ssh_forward_options",
    "ssh_forward_remote_options",
    "get_ssh_forward_remote_options",
    "get_env",
    "get_extra_labels",
    "get_state",
    "load_state",
    "clear_state",
    "show_first_default_event",
    "get_show_first_default_event",
    "_generate_progress",
    "progress",
    "filter_events",
    "run_filter_events",
    "cancelling_event",
    "get_cancelling_event",
    "get_ssh_recreate_at_start",
    "get_ssh_port",
    "get_ssh_remote_port",
    "get_ssh_username",
    "get_ssh_remote_username",
    "get_ssh_key",
    "get_ssh_remote_key",
    "get_ssh_during_startup",
    "get_ssh_node",
    "get_ssh_node_mapping",
    "get_ssh_remote_node",
    "get_svc_create",
    "run_ssh_forward",
    "get_forward_cmd",
    "get_forward_remote_cmd",
    "subprocess_cmd",
    "split_service_address",
    "ssh_default_forward_remove",
    "ssh_default_forward",
    "ssh_default_forward_remote_remove",
    "ssh_default_forward_remote",
    "_k8s_get_client_core",
    "ssh_default_svc",
    "ssh_default_svc_remove",
    "run_ssh_forward_remove",
    "public_api_url",
    "get_public_api_url",
    "dns_name_template",
    "svc_name_template",
    "namespace",
    "_namespace_default",
    "_expand_user_properties",
    "start",
    "_start",
    "poll",
    "_poll",
    "_stop",
    "stop",
    "svc_name",
    "dns_name",
]


class Legacy(ForwardBaseSpawner, Remote):
    pass


def make(facade, **settings):
    return build_spawner(facade, cls=Legacy, **settings)


def test_every_public_member_of_the_reference_is_there(facade):
    spawner = make(facade)
    missing = [name for name in REFERENCE_SURFACE if not hasattr(spawner, name)]
    assert missing == []
    assert spawner.yield_wait_seconds == 1 and spawner.already_stopped is False
    assert (
        spawner.svc_name == "jupyter-alice" and spawner.dns_name == "jupyter-alice.default.svc.cluster.local"
    )


def test_the_reference_module_names_import():
    base = importlib.import_module("forwardbasespawner")
    utils = importlib.import_module("forwardbasespawner.utils")
    forward = importlib.import_module("forwardbasespawner.forward")
    assert base.ForwardBaseSpawner is forward.ForwardBaseSpawner is ForwardBaseSpawner
    assert callable(utils.check_custom_scopes) and callable(forward.get_name)
    with pytest.raises(ImportError, match="facade serves /api/users/setuptunnel"):
        from forwardbasespawner import SetupTunnelAPIHandler  # noqa: F401


def test_check_custom_scopes_needs_one_of_the_required_scopes():
    from forwardbasespawner.utils import check_custom_scopes

    def handler(scopes):
        return SimpleNamespace(
            required_scopes=["custom:a", "custom:b"],
            has_scope=lambda s: s in scopes,
            parsed_scopes={s: None for s in scopes},
        )

    check_custom_scopes(handler({"custom:b"}))
    with pytest.raises(HTTPError) as info:
        check_custom_scopes(handler({"read:users"}))
    assert info.value.status_code == 403
    assert "At least one of ['custom:a', 'custom:b'] is required" in info.value.log_message


async def test_a_two_argument_extra_labels_and_the_templates_reach_the_registration(facade):
    spawner = make(facade, jump_node="hpc")
    spawner.extra_labels = lambda sp, user_options: {"system": user_options["system"]}
    spawner.user_options = {"system": "juwels"}
    spawner.script = lambda sp: asyncio.sleep(0, "node:1")
    await spawner.start()
    (put,) = [b for m, _, b in facade.requests if m == "PUT"]
    assert put["labels"] == {"system": "juwels"}
    assert (spawner.svc_name, spawner.namespace) == ("jupyter-alice", "jhub")
    assert spawner.dns_name == "jupyter-alice.jhub.svc.cluster.local"


async def test_already_stopped_makes_stop_and_poll_return_at_once_until_cleared(facade):
    spawner = make(facade, jump_node="hpc")
    spawner.script = lambda sp: asyncio.sleep(0, "node:1")
    await spawner.start()
    await spawner.stop()
    assert spawner.already_stopped is True and spawner.stop_calls == [False]
    await spawner.stop()
    assert spawner.stop_calls == [False]
    assert await spawner.poll() == 0
    spawner.clear_state()
    assert spawner.already_stopped is False


async def test_ssh_during_startup_false_is_the_reference_rule(facade):
    spawner = make(facade, ssh_node="hpc")
    spawner.ssh_during_startup = False
    spawner.script = lambda sp: asyncio.sleep(0, "outpost-svc:8080")
    assert await spawner.start() == "http://outpost-svc:8080"
    assert spawner.chosen_scenario == "direct"
    spawner.clear_state()
    spawner.ssh_during_startup = lambda sp: True
    await spawner.start()
    assert spawner.chosen_scenario == "forward"


async def test_the_hooks_without_an_effect_say_so(facade):
    spawner = make(facade)
    for name in ("ssh_default_forward", "ssh_default_svc", "subprocess_cmd"):
        method = getattr(spawner, name)
        with pytest.raises(NotImplementedError, match="the hub runs no ssh"):
            await (method(["true"]) if name == "subprocess_cmd" else method())
    assert spawner.split_service_address("https://[fd00::1]:8443") == ("fd00::1", "8443")
    assert await spawner.get_ssh_port() == 22
    spawner.port_forward_info = {"ssh_port": 2222}
    assert await spawner.get_ssh_port() == 2222


async def test_run_ssh_forward_sends_the_target_once(facade):
    spawner = make(facade, jump_node="hpc")
    started = asyncio.Event()

    async def delayed(sp):
        started.set()
        return ""

    spawner.script = delayed
    pending = asyncio.ensure_future(spawner.start())
    await started.wait()
    spawner.port_forward_info["service"] = "node7:9000"
    assert await spawner.run_ssh_forward() == ("jupyter-alice", 8888)
    assert facade.record("alice").spec["target"] == {"host": "node7", "port": 9000}
    assert await asyncio.wait_for(pending, 5) == "http://node7:9000"


async def test_a_cancelled_start_shows_the_cancelling_event_then_one_terminal_event(facade):
    spawner = make(facade, jump_node="hpc")
    spawner.script = lambda sp: asyncio.sleep(3600, "")
    pending = asyncio.ensure_future(spawner.start())
    await asyncio.sleep(0.3)
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    shown = messages(await collect(spawner.progress()))
    assert shown[-2:] == ["JupyterLab is cancelling the start.", "Start cancelled"]
    spawner.add_event({"progress": 100, "failed": True, "message": "Start cancelled"})
    assert [e for e in spawner.events if e.get("failed")] == [spawner.last_event]


async def test_a_subclass_event_at_99_is_never_followed_by_a_lower_one(facade):
    spawner = make(facade, jump_node="hpc")

    async def script(sp):
        sp.events.append({"progress": 99, "failed": False, "message": "Outpost answered"})
        await asyncio.sleep(0.2)
        return "node:1"

    spawner.script = script
    await spawner.start()
    progress = [e["progress"] for e in await collect(spawner.progress())]
    assert progress == sorted(progress) and progress[-1] == 99


async def test_a_failed_start_raises_the_subclass_error_and_keeps_the_last_event(facade):
    spawner = make(facade)

    async def refused(sp):
        raise HTTPError(419, log_message="start request failed: 500", reason="quota")

    spawner.script = refused
    with pytest.raises(HTTPError):
        await spawner.start()
    assert spawner.last_event["failed"] is True
    assert "start request failed: 500" in spawner.last_event["html_message"]
