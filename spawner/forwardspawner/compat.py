"""ForwardBaseSpawner: ForwardSpawner under the reference's name, with the reference's subclass
surface (jupyterhub-forwardbasespawner 2.1.2), so its subclasses run unmodified but for their
import (decision 0042).

Every public attribute, trait, hook and helper of the reference is here. Those that decide
something keep the reference's meaning on top of the operator (hooks around start, poll and
stop; the jump node; the scenario; labels; ports; events). Those that configured the hub's own
ssh processes and Services are accepted and have no effect, because the operator owns tunnels
and Services (the JumpNode resource holds the SSH settings); the methods that ran ssh or called
the Kubernetes API raise a NotImplementedError that says so. docs/spawner.md has the table.
"""

from __future__ import annotations

import inspect
import os
import string
from typing import Any, AsyncIterator, Optional

from tornado import web
from traitlets import Any as AnyTrait
from traitlets import Bool, Callable, Dict, Integer, Unicode, Union, default

from .attempt import StartAttempt
from .client import FacadeError
from .objects import DELAYED, DIRECT, FORWARD, make_target_patch, parse_address
from .spawner import ForwardSpawner

NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
_NO_SSH = (
    "{name}() is not available: the hub runs no ssh and creates no Kubernetes objects; the "
    "jupyterhub-forward-operator makes the tunnel and the Service of every ForwardedServer"
)
_TUNNELS = "No effect: the operator owns tunnels."
_SERVICES = "No effect: the operator owns Services."
_REMOTE_FORWARD = "No effect: use `remote_forward`."
# Settings of the reference that configured the hub's own tunnels and Services.
_NO_EFFECT = (
    "ssh_recreate_at_start",
    "ssh_custom_forward",
    "ssh_custom_forward_remove",
    "ssh_custom_svc",
    "ssh_custom_svc_remove",
    "ssh_custom_forward_remote",
    "ssh_custom_forward_remote_remove",
    "ssh_create_remote_forward",
)


async def _call(hook: Any, *args: Any) -> Any:
    value = hook(*args)
    if inspect.isawaitable(value):
        value = await value
    return value


def _escape(text: str) -> str:
    """A DNS-label-safe form of a name: lowercase letters, digits and '-' stay, every other byte
    becomes '-' and its two hex digits (the reference's escaping, with '-' for '%')."""
    safe = set(string.ascii_lowercase + string.digits + "-")
    out = []
    for ch in text:
        if ch in safe:
            out.append(ch)
        else:
            out.extend(f"-{b:02x}" for b in ch.encode("utf-8"))
    return "".join(out).lower()


# Where a reference setting's callable form gets its second argument and a plain value its
# override: nowhere (called with the spawner only), port_forward_info, or its "remote" part.
_SPAWNER, _INFO, _REMOTE = "spawner", "info", "remote"


def _getter(setting: str, source: str = _SPAWNER, key: str = "") -> Any:
    """The reference's `get_<setting>()`: the setting's value through `_setting_value`."""

    async def get(self: ForwardBaseSpawner) -> Any:
        return await self._setting_value(getattr(self, setting), source, key)

    get.__name__ = f"get_{setting}"
    get.__qualname__ = f"ForwardBaseSpawner.get_{setting}"
    return get


def _not_available(name: str, is_async: bool = True) -> Any:
    """A method of the reference that ran ssh or called the Kubernetes API: it says why not."""

    def refuse(self: ForwardBaseSpawner, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(_NO_SSH.format(name=name))

    async def refuse_async(self: ForwardBaseSpawner, *args: Any, **kwargs: Any) -> Any:
        refuse(self)

    method = refuse_async if is_async else refuse
    method.__name__ = name
    method.__qualname__ = f"ForwardBaseSpawner.{name}"
    return method


def _hook(default: Any, help: str) -> Any:
    """A setting that takes a callable (a hook) or a plain value."""
    return AnyTrait(default_value=default, config=True, help=help)


def _no_effect(*types: Any, default: Any = None, allow_none: bool = False, help: str = _TUNNELS) -> Any:
    """A reference setting that configured the hub's own ssh processes or Services: accepted
    with the reference's types and default (any value without `types`), never used."""
    if not types:
        return _hook(default, help)
    return Union(list(types), default_value=default, allow_none=allow_none, config=True, help=help)


class ForwardBaseSpawner(ForwardSpawner):
    """The reference's class name and subclass surface; settings may be given as
    `c.ForwardBaseSpawner.*` or `c.ForwardSpawner.*`."""

    # ------------------------------------------------------------------ attributes
    port_forwarded = 0
    # True until the first start() or poll() of this spawner object (the hub just started).
    call_during_startup = True
    # Set by stop(): a second stop() or a poll() returns at once; reset by clear_state().
    already_stopped = False
    already_post_stop_hooked = False
    # The last failed event of this server (kept after the stop, like the reference).
    last_event: dict[str, Any] = {}
    # How often (seconds) the progress stream looks at `events` without a wake-up.
    yield_wait_seconds = 1

    # ------------------------------------------------------------------ traits with an effect
    extra_labels = Union(
        [Dict(), Callable()],
        default_value={},
        config=True,
        help="""
        Extra labels for the Service. A dict, or a callable `(spawner)` or
        `(spawner, user_options)` returning one, awaited if needed. Read through
        `get_extra_labels()`, which subclasses may override.
        """,
    )

    custom_port = Union(
        [Integer(), Callable()],
        default_value=0,
        config=True,
        help="""
        Port the remote notebook listens on: an int, or a callable `(spawner, user_options)`
        (awaited if needed). 0: a random port. Resolved once per start (the reference evaluated
        a callable on every access of `port`).
        """,
    )

    ssh_during_startup = Union(
        [Callable(), Bool()],
        default_value=None,
        allow_none=True,
        config=True,
        help="""
        None (default): the `scenario` setting decides. True, or a callable `(spawner)` returning
        True: tunnel to the address `_start()` returned (scenario forward). False: the
        reference's rule, direct when `_start()` returned an address, delayed when not.
        """,
    )

    ssh_node = Union(
        [Callable(), Unicode()],
        default_value=None,
        allow_none=True,
        config=True,
        help="""
        The jump node (a JumpNode name or alias) when `jump_node` is not set; a callable
        `(spawner, port_forward_info)` wins over `port_forward_info['ssh_node']`, which wins over
        a plain value. Passed through `ssh_node_mapping`.
        """,
    )

    ssh_node_mapping = Callable(
        default_value=None,
        allow_none=True,
        config=True,
        help="Callable `(spawner, ssh_node) -> str` that maps the jump node; awaited if needed.",
    )

    pre_poll_hook = _hook(
        False,
        """
        Callable `(spawner)` run before every poll: True runs `_poll()`; False means running
        without `_poll()`; None means running; an int is the exit status. The ForwardedServer's
        own verdict still applies when the result is "running".
        """,
    )

    pre_stop_hook = _hook(False, "Callable `(spawner)` run before every stop; errors are logged.")

    update_start_response = _hook(
        False, "Callable `(spawner, address)` that may replace what `_start()` returned."
    )

    update_expected_path = _hook(False, "Callable `(spawner, url)` that may replace the URL start() returns.")

    show_first_default_event = _hook(
        True, "Show JupyterHub's 'Server requested' first: a bool or a callable `(spawner)`."
    )

    filter_events = Callable(
        default_value=None,
        allow_none=True,
        config=True,
        help="""
        Callable `(spawner, event) -> dict` applied to every event a remote system posts before
        the spawn page shows it; an empty dict hides the event.
        """,
    )

    cancelling_event = Union(
        [Dict(), Callable()],
        default_value={
            "failed": False,
            "ready": False,
            "progress": 99,
            "message": "",
            "html_message": "JupyterLab is cancelling the start.",
        },
        config=True,
        help="Shown before 'Start cancelled' when a pending start is cancelled; dict or callable.",
    )

    public_api_url = AnyTrait(
        config=True,
        help="""
        JUPYTERHUB_API_URL for remote servers (a str or a callable `(spawner)`); default: the
        hub's own, from `hub_connect_url` when set.
        """,
    )

    svc_name_template = Unicode(
        "jupyter-{username}--{servername}",
        config=True,
        help="""
        Template of `svc_name` before the server is registered; afterwards `svc_name` is the name
        of the operator's Service. Subclasses pass it on (OutpostSpawner's `pod_name_template`).
        """,
    )

    dns_name_template = Unicode(
        "{name}.{namespace}.svc.cluster.local",
        config=True,
        help="Template of `dns_name` from `name` (svc_name) and `namespace`.",
    )

    namespace = Unicode(
        config=True,
        help="Namespace of `dns_name`: the ForwardedServer's once registered, before: the pod's.",
    )

    @default("namespace")
    def _namespace_default(self) -> str:
        if os.path.exists(NAMESPACE_FILE):
            with open(NAMESPACE_FILE) as f:
                return f.read().strip()
        return "default"

    # ------------------------------------------------------------------ traits without effect
    ssh_recreate_at_start = _no_effect(Callable(), Bool(), default=False)
    ssh_key = _no_effect(Callable(), Unicode(), default="/home/jovyan/.ssh/id_rsa", allow_none=True)
    ssh_remote_key = _no_effect(
        Callable(), Unicode(), default="/home/jovyan/.ssh/id_rsa_remote", allow_none=True
    )
    ssh_username = _no_effect(Callable(), Unicode(), default="jhuboutpost")
    ssh_remote_username = _no_effect(Callable(), Unicode(), default="jhuboutpost")
    ssh_remote_node = _no_effect(Callable(), Unicode(), allow_none=True)
    ssh_port = _no_effect(Callable(), Integer(), Unicode(), default=22)
    ssh_remote_port = _no_effect(Callable(), Integer(), Unicode(), default=22)
    ssh_forward_options = _no_effect(Dict(), Callable(), default={})
    ssh_forward_remote_options = _no_effect(Dict(), Callable(), default={}, help=_REMOTE_FORWARD)
    svc_create = _no_effect(Callable(), Bool(), default=True, allow_none=True, help=_SERVICES)
    ssh_custom_forward = _no_effect()
    ssh_custom_forward_remove = _no_effect()
    ssh_custom_svc = _no_effect(help=_SERVICES)
    ssh_custom_svc_remove = _no_effect(help=_SERVICES)
    ssh_custom_forward_remote = _no_effect(help=_REMOTE_FORWARD)
    ssh_custom_forward_remote_remove = _no_effect(help=_REMOTE_FORWARD)
    ssh_create_remote_forward = _no_effect(default=False, help=_REMOTE_FORWARD)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # Without a user (JupyterHub's config generation) there is no name to expand.
        self.svc_name = self._expand_user_properties(self.svc_name_template) if self.user else ""
        self.dns_name = self.dns_name_template.format(namespace=self.namespace, name=self.svc_name)
        for name in _NO_EFFECT:
            if getattr(self, name):
                self.log.warning(
                    "%s - %s has no effect: the forward operator makes tunnels and Services",
                    self._log_name,
                    name,
                )

    # ------------------------------------------------------------------ start
    async def start(self) -> str:
        self.call_during_startup = False
        self.last_event = {}
        return await super().start()

    async def _choose_port(self) -> int:
        if callable(self.custom_port):
            return int(await _call(self.custom_port, self, self.user_options))
        if not self.custom_port:
            self.custom_port = await super()._choose_port()
        return int(self.custom_port)

    async def _remote_start(self) -> str:
        address = await super()._remote_start()
        return str(await self.run_update_start_response(address) or "").strip()

    async def _decide_scenario(self, address: str, jump: str) -> str:
        if self.ssh_during_startup is None or self._scenario_setting() != "auto":
            return await super()._decide_scenario(address, jump)
        during = self.get_ssh_during_startup()
        if inspect.isawaitable(during):
            during = await during
        if during:
            return FORWARD
        return DIRECT if address else DELAYED

    async def _final_url(self, url: str) -> str:
        return str(await self.run_update_expected_path(url))

    async def _service_labels(self) -> dict[str, Any]:
        return await self.get_extra_labels() or {}

    async def _jump_node(self) -> str:
        if self.jump_node:
            return await super()._jump_node()
        return str(await self.get_ssh_node() or "")

    def _took_view(self, view: dict[str, Any]) -> None:
        super()._took_view(view)
        if view.get("name"):
            self.svc_name = view["name"]
        if view.get("namespace"):
            self.namespace = view["namespace"]
        self.dns_name = self.dns_name_template.format(namespace=self.namespace, name=self.svc_name)

    async def _cancel_events(self, elapsed: float) -> list[dict[str, Any]]:
        events = []
        try:
            cancelling = await self.get_cancelling_event()
        except Exception:
            self.log.exception("%s - cancelling_event failed", self._log_name)
            cancelling = None
        if cancelling:
            events.append(cancelling)
        return events + await super()._cancel_events(elapsed)

    # ------------------------------------------------------------------ poll and stop
    async def poll(self) -> Optional[int]:
        if self.already_stopped:
            return 0
        self.call_during_startup = False
        return await super().poll()

    async def _remote_poll(self) -> Optional[int]:
        value = await self.run_pre_poll_hook()
        if value is True:
            return await self._poll()
        if value is False:
            return None
        return value

    async def _clean_up_after_exit(self, attempt: StartAttempt) -> None:
        await self.stop(now=True)

    async def stop(self, now: bool = False, **kwargs: Any) -> None:
        if self.already_stopped:
            return
        self.already_stopped = True
        try:
            await self.run_pre_stop_hook()
        except Exception:
            self.log.exception("%s - Error in pre stop hook", self._log_name)
        await self._stop_attempt(now, kwargs)

    # ------------------------------------------------------------------ progress, env, state
    def add_event(self, event: dict[str, Any]) -> None:
        if event.get("failed"):
            self.last_event = event
        super().add_event(event)

    def _progress_wait_seconds(self) -> float:
        return float(self.yield_wait_seconds)

    def _remote_event(self, event: dict[str, Any]) -> Optional[dict[str, Any]]:
        try:
            return self.run_filter_events(event) or None
        except Exception:
            self.log.exception("%s - Could not filter event %s", self._log_name, event)
            return None

    async def _generate_progress(self) -> AsyncIterator[dict[str, Any]]:
        if not self._spawn_pending:
            self.log.warning("%s - Spawn not pending, can't generate progress.", self._log_name)
            return
        if await self.get_show_first_default_event():
            yield {"progress": 0, "message": "Server requested"}
        progress = self.progress()
        try:
            async for event in progress:
                yield event
        finally:
            await progress.aclose()

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        env["JUPYTERHUB_API_URL"] = str(self.get_public_api_url()).rstrip("/")
        env["JUPYTERHUB_ACTIVITY_URL"] = f"{env['JUPYTERHUB_API_URL']}/users/{self.user.name}/activity"
        return env

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        state["custom_port"] = self.port
        state["events"] = self.events
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        if isinstance(state.get("custom_port"), int) and not callable(self.custom_port):
            self.custom_port = self.port = state["custom_port"]
        if isinstance(state.get("events"), list):
            self.events = state["events"]

    def clear_state(self) -> None:
        super().clear_state()
        self.already_stopped = False
        self.already_post_stop_hooked = False

    # ------------------------------------------------------------------ the reference's helpers
    async def run_pre_stop_hook(self) -> Any:
        return await self._run_hook(self.pre_stop_hook, True)

    async def run_pre_poll_hook(self) -> Any:
        return await self._run_hook(self.pre_poll_hook, True)

    async def run_update_expected_path(self, default_start_return_value: str) -> Any:
        return await self._run_hook(self.update_expected_path, default_start_return_value, True)

    async def run_update_start_response(self, original_start_response: Any) -> Any:
        return await self._run_hook(self.update_start_response, original_start_response, True)

    async def _run_hook(self, hook: Any, default: Any, pass_default: bool = False) -> Any:
        """`hook(spawner)`, or `hook(spawner, default)` with `pass_default`, awaited if needed;
        `default` when the hook is not set."""
        if not hook:
            return default
        return await (_call(hook, self, default) if pass_default else _call(hook, self))

    def run_filter_events(self, event: dict[str, Any]) -> Any:
        return self.filter_events(self, event) if self.filter_events else event

    async def get_extra_labels(self) -> dict[str, Any]:
        """The Service's extra labels (OutpostSpawner overrides this and calls the setting with
        `(spawner, user_options)`; the base accepts both forms)."""
        return await ForwardSpawner._service_labels(self)

    get_show_first_default_event = _getter("show_first_default_event")
    get_cancelling_event = _getter("cancelling_event")

    def get_ssh_during_startup(self) -> Any:
        value = self.ssh_during_startup
        return value(self) if callable(value) else value

    async def get_ssh_node(self) -> Any:
        if callable(self.ssh_node):
            node = await _call(self.ssh_node, self, self.port_forward_info)
        else:
            node = self.port_forward_info.get("ssh_node", self.ssh_node)
        return await self.get_ssh_node_mapping(node)

    async def get_ssh_node_mapping(self, ssh_node: Any) -> Any:
        if callable(self.ssh_node_mapping):
            return await _call(self.ssh_node_mapping, self, ssh_node)
        return ssh_node

    def get_public_api_url(self) -> str:
        if callable(self.public_api_url):
            return self.public_api_url(self)
        if self.public_api_url:
            return self.public_api_url
        return super().get_env()["JUPYTERHUB_API_URL"]

    def split_service_address(self, service_address: str) -> tuple[str, str]:
        """("host", "port") of "[http(s)://]host:port" (IPv6 in brackets is accepted here)."""
        target = parse_address(service_address)
        return target.host, str(target.port)

    def _expand_user_properties(self, template: str) -> str:
        hub_namespace = self._namespace_default()
        safe = set(string.ascii_lowercase + string.digits + "-")
        legacy = "".join(c if c in safe else "-" for c in self.user.name.lower())
        rendered = template.format(
            userid=self.user.id,
            username=_escape(self.user.name),
            unescaped_username=self.user.name,
            legacy_escape_username=legacy,
            servername=_escape(self.name or ""),
            unescaped_servername=self.name or "",
            hubnamespace="user" if hub_namespace == "default" else hub_namespace,
        )
        return rendered.rstrip("-")

    async def run_ssh_forward(self, create_svc: bool = True) -> tuple[str, int]:
        """Makes `port_forward_info['service']` reachable: tells the facade the target (set only
        if the start attempt has none yet); the operator makes the tunnel and the Service.
        Returns (svc_name, service_port)."""
        try:
            target = parse_address(str(self.port_forward_info.get("service", "")))
            patch = make_target_patch(self.start_id, target, await self._jump_node())
            view = await self._facade().patch_server(self.user.name, self.name, patch)
        except (ValueError, FacadeError) as e:
            raise web.HTTPError(419, log_message=f"Cannot start ssh tunnel for {self.name}: {e}") from e
        self._took_view(view)
        return self.svc_name, self.service_port

    async def run_ssh_forward_remove(self, delete_svc: bool = True) -> None:
        """Nothing to do: stop() deletes the ForwardedServer, its tunnel and its Service."""

    # Getters of the settings that configured the hub's ssh processes (values only).
    get_ssh_recreate_at_start = _getter("ssh_recreate_at_start")
    get_svc_create = _getter("svc_create")
    get_ssh_port = _getter("ssh_port", _INFO, "ssh_port")
    get_ssh_username = _getter("ssh_username", _INFO, "ssh_username")
    get_ssh_key = _getter("ssh_key", _INFO, "ssh_key")
    get_ssh_forward_options = _getter("ssh_forward_options", _INFO)
    get_ssh_remote_port = _getter("ssh_remote_port", _REMOTE, "ssh_port")
    get_ssh_remote_username = _getter("ssh_remote_username", _REMOTE, "ssh_username")
    get_ssh_remote_key = _getter("ssh_remote_key", _REMOTE, "ssh_key")
    get_ssh_remote_node = _getter("ssh_remote_node", _REMOTE, "ssh_node")
    get_ssh_forward_remote_options = _getter("ssh_forward_remote_options", _REMOTE)
    get_ssh_create_remote_forward = _getter("ssh_create_remote_forward", _REMOTE)

    async def _setting_value(self, value: Any, source: str, key: str) -> Any:
        """A reference setting's value: a callable is called with the spawner and, unless the
        source is the spawner, with the source's dict (port_forward_info or its "remote" part),
        awaited if needed; a plain value gives way to the source's `key` when there is one."""
        if source == _SPAWNER:
            return await _call(value, self) if callable(value) else value
        info = self.port_forward_info
        found = info if source == _INFO else info.get("remote", {})
        if callable(value):
            return await _call(value, self, found)
        return found.get(key, value) if key else value

    # The methods that ran ssh or called the Kubernetes API.
    get_forward_cmd = _not_available("get_forward_cmd")
    get_forward_remote_cmd = _not_available("get_forward_remote_cmd")
    subprocess_cmd = _not_available("subprocess_cmd")
    ssh_default_forward = _not_available("ssh_default_forward")
    ssh_default_forward_remove = _not_available("ssh_default_forward_remove")
    ssh_default_forward_remote = _not_available("ssh_default_forward_remote")
    ssh_default_forward_remote_remove = _not_available("ssh_default_forward_remote_remove")
    ssh_default_svc = _not_available("ssh_default_svc")
    ssh_default_svc_remove = _not_available("ssh_default_svc_remove")
    _k8s_get_client_core = _not_available("_k8s_get_client_core", is_async=False)


def get_name(key: str) -> str:
    """A value of the hub's z2jh configuration (`/usr/local/etc/jupyterhub/config/{key}`)."""
    path = f"/usr/local/etc/jupyterhub/config/{key}"
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found")
    with open(path) as f:
        return f.read()


__all__ = ["ForwardBaseSpawner", "get_name"]
