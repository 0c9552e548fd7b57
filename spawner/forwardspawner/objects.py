"""Pure builders for what the spawner sends to and reads from the facade.

Nothing here performs I/O, reads the clock or draws random numbers: every function maps its
arguments to a value, so the tests compare whole results. The facade API is contract 0001
section E (docs/decisions/0001-component-contracts.md).
"""

from __future__ import annotations

import copy
import ipaddress
import re
from typing import Any, NamedTuple, Optional
from urllib.parse import quote, urlsplit

DIRECT = "direct"
FORWARD = "forward"
DELAYED = "delayed"
AUTO = "auto"
SCENARIOS = (DIRECT, FORWARD, DELAYED)

# Exit statuses poll() reports for a server the facade no longer holds.
EXIT_GONE = 0
EXIT_CANCELLED = 0
EXIT_FAILED = 1

TERMINAL_PHASES = ("Cancelling", "Cancelled", "Failed")

_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[^\[\]:/\s]+):(?P<port>[0-9]{1,5})/?$")


class Target(NamedTuple):
    host: str
    port: int


def path_segment(name: str) -> str:
    """Percent-encodes a user or server name as one path segment (contract 0001 E)."""
    return quote(name, safe="@~")


def server_path(user_name: str, server_name: str) -> str:
    """Path of one ForwardedServer in the facade's spawner API; the default server has no suffix."""
    path = f"/api/forwardedservers/{path_segment(user_name)}"
    return f"{path}/{path_segment(server_name)}" if server_name else path


def callback_env(
    public_url: str, user_name: str, user_id: int, server_name: str, start_id: str
) -> dict[str, str]:
    """Environment variables that tell a remote job where to report progress and its address.

    The URLs carry `?start_id=` so the facade refuses callbacks from an older start attempt.
    """
    suffix = f"{path_segment(user_name)}"
    if server_name:
        suffix += f"/{path_segment(server_name)}"
    query = f"?start_id={quote(start_id, safe='')}" if start_id else ""
    base = public_url.rstrip("/")
    return {
        "JUPYTERHUB_EVENTS_URL": f"{base}/api/users/progress/events/{suffix}{query}",
        "JUPYTERHUB_SETUPTUNNEL_URL": f"{base}/api/users/setuptunnel/{suffix}{query}",
        "JUPYTERHUB_USER_ID": str(user_id),
        "JUPYTERHUB_START_ID": start_id,
    }


def parse_address(address: str) -> Target:
    """Parses what `_start()` returns: "[http(s)://]host:port", IPv6 in brackets.

    Raises ValueError with a message a user can act on (the reference crashed on IPv6, paths and
    trailing slashes, W-49).
    """
    text = address.strip()
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or parts.path not in ("", "/"):
            raise ValueError(f"address {address!r} is not [http(s)://]host:port")
        text = parts.netloc
    match = _HOST_PORT.match(text)
    if not match:
        raise ValueError(f"address {address!r} is not [http(s)://]host:port")
    host = match["host"].strip("[]")
    port = int(match["port"])
    if not 1 <= port <= 65535:
        raise ValueError(f"address {address!r} has port {port} outside 1-65535")
    if match["host"].startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError as e:
            raise ValueError(f"address {address!r} has an invalid IPv6 host: {e}") from e
    return Target(host, port)


def choose_scenario(setting: str, address: str, jump_node: str) -> str:
    """The start scenario, decided from the setting, `_start()`'s address and the jump node.

    auto: no address -> delayed (the remote side calls setuptunnel later); an address and a jump
    node -> forward; an address and no jump node -> direct.
    """
    if setting not in (AUTO, *SCENARIOS):
        raise ValueError(f"unknown scenario {setting!r}; use one of auto, {', '.join(SCENARIOS)}")
    if setting == AUTO:
        return DELAYED if not address else FORWARD if jump_node else DIRECT
    if setting in (DIRECT, FORWARD) and not address:
        raise ValueError(f"scenario {setting!r} needs an address, but _start() returned none")
    if setting == FORWARD and not jump_node:
        raise ValueError("scenario 'forward' needs a jump node (jump_node or port_forward_info['ssh_node'])")
    return setting


def make_server_request(
    *,
    user_id: int,
    start_id: str,
    scenario: Optional[str],
    target: Optional[Target] = None,
    jump_node: str = "",
    service_port: int = 0,
    labels: Optional[dict[str, str]] = None,
    remote_forward: Optional[dict[str, Any]] = None,
) -> dict[str, Any]:
    """Body of PUT /api/forwardedservers/{user}[/{server}].

    `scenario` None means "not decided yet" (before `_start()` returned): the jump node is sent
    unless the scenario is direct, and the target only when the scenario needs it.
    """
    body: dict[str, Any] = {"userId": user_id, "startId": start_id}
    if target is not None and scenario in (DIRECT, FORWARD):
        body["target"] = {"host": target.host, "port": target.port}
    if jump_node and scenario != DIRECT:
        body["jumpNode"] = jump_node
    if service_port:
        body["servicePort"] = service_port
    if labels:
        body["labels"] = {str(k): str(v) for k, v in labels.items()}
    if remote_forward:
        body["remoteForward"] = make_remote_forward(remote_forward)
    return body


def make_target_patch(start_id: str, target: Target, jump_node: str = "") -> dict[str, Any]:
    """Body of PATCH /api/forwardedservers/{user}[/{server}]: the address `_start()` returned.

    The facade sets the target (and the jump node, if given and none is set) only if the
    ForwardedServer of this start attempt has no target yet: a setuptunnel call that came first
    wins, and a later start attempt's server is refused (409).
    """
    body: dict[str, Any] = {"startId": start_id, "target": {"host": target.host, "port": target.port}}
    if jump_node:
        body["jumpNode"] = jump_node
    return body


def make_remote_forward(spec: dict[str, Any]) -> dict[str, Any]:
    """Normalises the remote_forward setting to the contract's {bindAddress?, bindPort, target}."""
    try:
        target = spec["target"]
        out: dict[str, Any] = {
            "bindPort": int(spec["bindPort"]),
            "target": {"host": str(target["host"]), "port": int(target["port"])},
        }
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(
            "remote_forward must look like {'bindPort': 8081, 'target': {'host': 'hub', 'port': 8081}}"
        ) from e
    if spec.get("bindAddress"):
        out["bindAddress"] = str(spec["bindAddress"])
    return out


def hub_url(url: str, internal_ssl: bool) -> str:
    """The URL start() returns: the facade's, with https when JupyterHub uses internal SSL."""
    if internal_ssl and url.startswith("http://"):
        return "https://" + url[len("http://") :]
    return url


def poll_verdict(view: Optional[dict[str, Any]], start_id: str) -> Optional[int]:
    """What the ForwardedServer says about a started server: None while it may still run.

    Absent, replaced by another start attempt, cancelled or failed mean stopped. Every other
    phase (including Connecting while a runner reconnects) counts as running: a hub must never
    stop a live server because the tunnel is in doubt.
    """
    if view is None:
        return EXIT_GONE
    if start_id and view.get("startId") not in (None, "", start_id):
        return EXIT_GONE
    phase = view.get("phase")
    if phase == "Failed":
        return EXIT_FAILED
    if phase in ("Cancelling", "Cancelled"):
        return EXIT_CANCELLED
    return None


def is_terminal(view: dict[str, Any]) -> bool:
    """True once the start attempt has failed or been cancelled, by any party."""
    if view.get("phase") in TERMINAL_PHASES or view.get("terminalEvent"):
        return True
    return any(isinstance(e, dict) and e.get("failed") for e in view.get("events") or [])


def start_outcome(view: dict[str, Any], wait_for_ready: bool) -> Optional[str]:
    """The URL start() may return now, or None to keep waiting (a terminal view is checked first)."""
    url = view.get("url") or ""
    if not url:
        return None
    if wait_for_ready and view.get("phase") != "Ready":
        return None
    return url


def make_state(
    *, start_id: str, name: str, scenario: str, port_forward_info: dict[str, Any]
) -> dict[str, Any]:
    """What a restarted hub needs to poll and stop the server; empty keys are left out."""
    state: dict[str, Any] = {
        "start_id": start_id,
        "forwarded_server": name,
        "scenario": scenario,
        "port_forward_info": copy.deepcopy(port_forward_info),
    }
    return {k: v for k, v in state.items() if v}
