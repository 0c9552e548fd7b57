"""Pure builders, compared as whole values (kubespawner's test_objects style)."""

from __future__ import annotations

import re

import pytest

from forwardspawner.events import (
    event_text,
    facade_events,
    failure_event,
    phase_event,
    start_failed_event,
    terminal_event,
)
from forwardspawner.objects import (
    Target,
    callback_env,
    choose_scenario,
    hub_url,
    is_terminal,
    make_server_request,
    make_state,
    parse_address,
    poll_verdict,
    server_path,
    start_outcome,
)

SID = "0f4c2d7e9b0a4a5c8d6e1f2a3b4c5d6e"


@pytest.mark.parametrize(
    "user, server, path",
    [
        ("alice", "", "/api/forwardedservers/alice"),
        ("alice", "gpu", "/api/forwardedservers/alice/gpu"),
        ("a.b@x.org", "my srv", "/api/forwardedservers/a.b@x.org/my%20srv"),
        ("we/ird", "ü", "/api/forwardedservers/we%2Fird/%C3%BC"),
    ],
)
def test_server_path_encodes_names_as_single_segments(user, server, path):
    assert server_path(user, server) == path


def test_callback_env_named_server():
    assert callback_env("https://fwd.example.org/", "a b", 3, "gpu", SID) == {
        "JUPYTERHUB_EVENTS_URL": f"https://fwd.example.org/api/users/progress/events/a%20b/gpu?start_id={SID}",
        "JUPYTERHUB_SETUPTUNNEL_URL": f"https://fwd.example.org/api/users/setuptunnel/a%20b/gpu?start_id={SID}",
        "JUPYTERHUB_USER_ID": "3",
        "JUPYTERHUB_START_ID": SID,
    }


def test_callback_env_default_server_omits_the_server_part():
    env = callback_env("http://fwd:8080", "alice", 7, "", SID)
    assert env["JUPYTERHUB_EVENTS_URL"] == f"http://fwd:8080/api/users/progress/events/alice?start_id={SID}"
    assert env["JUPYTERHUB_SETUPTUNNEL_URL"] == f"http://fwd:8080/api/users/setuptunnel/alice?start_id={SID}"


@pytest.mark.parametrize(
    "address, target",
    [
        ("10.0.0.5:8888", Target("10.0.0.5", 8888)),
        ("http://node12.cluster:43127", Target("node12.cluster", 43127)),
        ("https://node12.cluster:443/", Target("node12.cluster", 443)),
        ("[fd00::12]:8888", Target("fd00::12", 8888)),
        ("http://[::1]:9000", Target("::1", 9000)),
        ("  host:1 ", Target("host", 1)),
    ],
)
def test_parse_address_accepts(address, target):
    assert parse_address(address) == target


@pytest.mark.parametrize(
    "address, error",
    [
        ("host", "is not [http(s)://]host:port"),
        ("host:0", "outside 1-65535"),
        ("host:70000", "outside 1-65535"),
        ("http://host:80/user/alice", "is not [http(s)://]host:port"),
        ("ftp://host:21", "is not [http(s)://]host:port"),
        ("fd00::12:8888", "is not [http(s)://]host:port"),
        ("[zz::1]:80", "is not [http(s)://]host:port"),
        ("[1:2]:80", "has an invalid IPv6 host"),
    ],
)
def test_parse_address_refuses_with_a_reason(address, error):
    with pytest.raises(ValueError, match=re.escape(error)):
        parse_address(address)


@pytest.mark.parametrize(
    "setting, address, jump, scenario",
    [
        ("auto", "", "", "delayed"),
        ("auto", "", "hpc", "delayed"),
        ("auto", "h:1", "hpc", "forward"),
        ("auto", "h:1", "", "direct"),
        ("direct", "h:1", "hpc", "direct"),
        ("delayed", "h:1", "hpc", "delayed"),
        ("forward", "h:1", "hpc", "forward"),
    ],
)
def test_choose_scenario(setting, address, jump, scenario):
    assert choose_scenario(setting, address, jump) == scenario


@pytest.mark.parametrize(
    "setting, address, jump, error",
    [
        ("forward", "h:1", "", "needs a jump node"),
        ("forward", "", "hpc", "needs an address"),
        ("direct", "", "", "needs an address"),
        ("sideways", "h:1", "", "unknown scenario"),
    ],
)
def test_choose_scenario_refuses(setting, address, jump, error):
    with pytest.raises(ValueError, match=error):
        choose_scenario(setting, address, jump)


def test_server_request_before_the_address_is_known():
    body = make_server_request(user_id=7, start_id=SID, scenario=None, jump_node="hpc", service_port=8888)
    assert body == {"userId": 7, "startId": SID, "jumpNode": "hpc", "servicePort": 8888}


def test_server_request_forward_with_everything():
    body = make_server_request(
        user_id=7,
        start_id=SID,
        scenario="forward",
        target=Target("10.0.0.5", 43127),
        jump_node="hpc",
        service_port=8080,
        labels={"hub.jupyter.org/network-access-hub": "true", "n": 1},
        remote_forward={"bindPort": 8081, "target": {"host": "hub", "port": "8081"}, "bindAddress": ""},
    )
    assert body == {
        "userId": 7,
        "startId": SID,
        "target": {"host": "10.0.0.5", "port": 43127},
        "jumpNode": "hpc",
        "servicePort": 8080,
        "labels": {"hub.jupyter.org/network-access-hub": "true", "n": "1"},
        "remoteForward": {"bindPort": 8081, "target": {"host": "hub", "port": 8081}},
    }


def test_server_request_direct_drops_the_jump_node_and_delayed_drops_the_target():
    direct = make_server_request(
        user_id=1, start_id=SID, scenario="direct", target=Target("h", 1), jump_node="hpc"
    )
    assert direct == {"userId": 1, "startId": SID, "target": {"host": "h", "port": 1}}
    delayed = make_server_request(
        user_id=1, start_id=SID, scenario="delayed", target=Target("h", 1), jump_node="hpc"
    )
    assert delayed == {"userId": 1, "startId": SID, "jumpNode": "hpc"}


def test_server_request_refuses_a_malformed_remote_forward():
    with pytest.raises(ValueError, match="remote_forward must look like"):
        make_server_request(user_id=1, start_id=SID, scenario=None, remote_forward={"bindPort": 1})


@pytest.mark.parametrize(
    "url, internal_ssl, out",
    [
        ("http://jupyter-alice.jhub.svc:8888", False, "http://jupyter-alice.jhub.svc:8888"),
        ("http://jupyter-alice.jhub.svc:8888", True, "https://jupyter-alice.jhub.svc:8888"),
        ("https://x:1", True, "https://x:1"),
    ],
)
def test_hub_url(url, internal_ssl, out):
    assert hub_url(url, internal_ssl) == out


@pytest.mark.parametrize(
    "view, verdict",
    [
        (None, 0),
        ({"startId": SID, "phase": "Ready"}, None),
        ({"startId": SID, "phase": "Connecting"}, None),
        ({"startId": SID, "phase": "WaitingForTarget"}, None),
        ({"startId": SID, "phase": "Pending"}, None),
        ({"startId": SID}, None),
        ({"startId": SID, "phase": "Failed"}, 1),
        ({"startId": SID, "phase": "Cancelling"}, 0),
        ({"startId": SID, "phase": "Cancelled"}, 0),
        ({"startId": "another-attempt", "phase": "Ready"}, 0),
    ],
)
def test_poll_verdict(view, verdict):
    assert poll_verdict(view, SID) == verdict


@pytest.mark.parametrize(
    "view, terminal",
    [
        ({"phase": "Ready", "events": [{"progress": 50}]}, False),
        ({"phase": "Connecting", "events": [{"failed": True}]}, True),
        ({"phase": "WaitingForTarget", "terminalEvent": {"failed": True, "message": "x"}}, True),
        ({"phase": "Cancelled"}, True),
    ],
)
def test_is_terminal(view, terminal):
    assert is_terminal(view) is terminal


@pytest.mark.parametrize(
    "view, ready_only, url",
    [
        ({"phase": "WaitingForTarget", "url": ""}, False, None),
        ({"phase": "WaitingForTarget", "url": "http://s:8888"}, False, "http://s:8888"),
        ({"phase": "Connecting", "url": "http://s:8888"}, True, None),
        ({"phase": "Ready", "url": "http://s:8888"}, True, "http://s:8888"),
    ],
)
def test_start_outcome(view, ready_only, url):
    assert start_outcome(view, ready_only) == url


def test_state_keeps_what_a_restarted_hub_needs_and_copies_nested_dicts():
    pfi = {"service": "10.0.0.5:43127", "ssh_node": "hpc", "remote": {"x": 1}}
    state = make_state(start_id=SID, name="jupyter-alice", scenario="forward", port_forward_info=pfi)
    assert state == {
        "start_id": SID,
        "forwarded_server": "jupyter-alice",
        "scenario": "forward",
        "port_forward_info": pfi,
    }
    pfi["remote"]["x"] = 2
    assert state["port_forward_info"]["remote"] == {"x": 1}
    assert make_state(start_id="", name="", scenario="", port_forward_info={}) == {}


def test_facade_events_counts_dropped_events_as_positions():
    view = {"events": [{"message": "c"}, {"message": "d", "ready": True, "url": "x"}], "eventsDropped": 2}
    assert facade_events(view, 0) == ([{"message": "c"}, {"message": "d"}], 4)
    assert facade_events(view, 3) == ([{"message": "d"}], 4)
    assert facade_events(view, 4) == ([], 4)
    assert facade_events({"events": []}, 4) == ([], 4)


@pytest.mark.parametrize(
    "view, jump, last, event",
    [
        ({"phase": "Pending"}, "", 0, {"progress": 10, "message": "Waiting for the forward operator"}),
        (
            {"phase": "WaitingForTarget"},
            "hpc",
            0,
            {"progress": 20, "message": "Waiting for the remote system to report its address"},
        ),
        ({"phase": "Connecting"}, "hpc", 0, {"progress": 60, "message": "Connecting through jump node hpc"}),
        ({"phase": "Connecting"}, "hpc", 75, {"progress": 75, "message": "Connecting through jump node hpc"}),
        (
            {
                "phase": "Connecting",
                "conditions": [
                    {
                        "type": "TunnelReady",
                        "status": "False",
                        "reason": "SSHError",
                        "message": "connection refused",
                    }
                ],
            },
            "hpc",
            0,
            {"progress": 60, "message": "Connecting through jump node hpc: connection refused"},
        ),
        (
            {
                "phase": "Connecting",
                "conditions": [
                    {
                        "type": "TargetReachable",
                        "status": "Unknown",
                        "reason": "NoTarget",
                        "message": "No forward to probe",
                    }
                ],
            },
            "hpc",
            0,
            {"progress": 60, "message": "Connecting through jump node hpc"},
        ),
        (
            {
                "phase": "WaitingForTarget",
                "conditions": [
                    {
                        "type": "ServiceReady",
                        "status": "False",
                        "reason": "WaitingForTarget",
                        "message": "no target",
                    }
                ],
            },
            "",
            0,
            {"progress": 20, "message": "Waiting for the remote system to report its address"},
        ),
        ({"phase": "Ready"}, "hpc", 0, {"progress": 90, "message": "Tunnel ready"}),
        ({"phase": "Ready"}, "", 0, {"progress": 90, "message": "Service ready"}),
        ({"phase": "Cancelling"}, "", 0, None),
        ({"phase": "Cancelled"}, "", 0, None),
        ({"phase": "Sideways"}, "", 0, None),
    ],
)
def test_phase_event(view, jump, last, event):
    assert phase_event(view, jump, last) == event


def test_failure_event_prefers_the_terminal_event():
    terminal = {"progress": 100, "failed": True, "html_message": "<b>Job killed</b>", "ready": True}
    assert failure_event({"phase": "Cancelled", "terminalEvent": terminal}) == {
        "progress": 100,
        "failed": True,
        "html_message": "<b>Job killed</b>",
    }
    assert failure_event({"phase": "Cancelled"}) == {
        "progress": 100,
        "failed": True,
        "message": "Start cancelled",
    }
    failed = {
        "phase": "Failed",
        "conditions": [{"type": "Ready", "status": "False", "message": "JumpNode hpc not found"}],
    }
    assert failure_event(failed) == {
        "progress": 100,
        "failed": True,
        "message": "Start failed: JumpNode hpc not found",
    }


def test_terminal_event_prefers_the_posted_failed_event():
    posted = {
        "failed": True,
        "progress": 100,
        "html_message": "<details><summary>Out of quota</summary></details>",
    }
    view = {"phase": "Cancelling", "events": [{"progress": 10}, posted]}
    assert terminal_event(view) == posted
    assert event_text(posted) == "Out of quota"
    stamped = {
        "html_message": "<details><summary>2026-11-27 17:12:14.786: Out of quota</summary>x &amp; y</details>"
    }
    assert event_text(stamped) == "Out of quota x & y"


def test_start_failed_event_escapes_and_timestamps():
    event = start_failed_event("Start failed: <boom>", "line1\nline2 & more", "2026-01-21 10:11:12.345")
    assert event == {
        "progress": 100,
        "failed": True,
        "message": "Start failed: <boom>",
        "html_message": "<details><summary>2026-01-21 10:11:12.345: Start failed: &lt;boom&gt;</summary>"
        "line1<br>line2 &amp; more</details>",
    }
