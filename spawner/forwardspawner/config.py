"""The settings of ForwardSpawner, as traitlets (`c.ForwardSpawner.<name>` in jupyterhub_config.py).

Kept apart from the lifecycle code in spawner.py so each file reads on its own. Callables may be
plain functions or coroutines; they are always awaited when they return an awaitable (unlike
the reference's `ssh_during_startup`, W-18).
"""

from __future__ import annotations

import inspect
import os
from typing import Any, Optional

from traitlets import Bool, Callable, CaselessStrEnum, Dict, Float, Integer, Unicode, Union, default
from traitlets.config import LoggingConfigurable

from .client import FacadeClient


class ForwardSpawnerConfig(LoggingConfigurable):
    facade_url = Unicode(
        "",
        config=True,
        help="""
        Base URL of the jupyterhub-forward-operator facade, as the hub reaches it, for example
        `http://jupyterhub-forward-facade.jfo-system.svc:8080`. Required.
        """,
    )

    facade_public_url = Unicode(
        "",
        config=True,
        help="""
        Base URL of the facade as remote systems reach it; JUPYTERHUB_EVENTS_URL and
        JUPYTERHUB_SETUPTUNNEL_URL handed to remote jobs start with it. Defaults to `facade_url`,
        which is only right when remote jobs can resolve the in-cluster name.
        """,
    )

    facade_token = Unicode(
        config=True,
        help="""
        Static facade token with the `servers` scope, sent as `Authorization: token <t>`.
        Defaults to the environment variable JUPYTERHUB_FORWARD_FACADE_TOKEN (for z2jh, set it
        with `hub.extraEnv` from a Secret).
        """,
    )

    @default("facade_token")
    def _default_facade_token(self) -> str:
        return os.environ.get("JUPYTERHUB_FORWARD_FACADE_TOKEN", "")

    facade_request_timeout = Float(
        20.0,
        config=True,
        help="Seconds one facade request may take (connect and answer; long-polls get their wait on top).",
    )

    facade_retry_timeout = Float(
        15.0,
        config=True,
        help="""
        Seconds to keep retrying a create, cancel or delete request while the facade is
        unreachable or answers 5xx/429, with jittered exponential backoff. A 4xx is not retried.
        """,
    )

    facade_long_poll_seconds = Float(
        20.0,
        config=True,
        help="""
        How long one long-poll for new events of a pending start may wait (1-60 s). The facade
        answers early on a new event or a phase change; a URL set without a phase change is
        seen after at most this long.
        """,
    )

    facade_validate_cert = Bool(True, config=True, help="Verify the facade's TLS certificate.")

    facade_ca_certs = Unicode(
        "",
        config=True,
        help="CA bundle (PEM file) for the facade's certificate; empty uses the system store.",
    )

    jump_node = Union(
        [Unicode(), Callable()],
        default_value="",
        config=True,
        help="""
        The JumpNode (name or alias) the tunnel goes through. Empty: no jump node, unless the
        subclass puts `ssh_node` in `port_forward_info` or the remote side names one in its
        setuptunnel call. May be a callable `(spawner, port_forward_info) -> str`, awaited if it
        returns an awaitable; as in the reference, a callable wins over
        `port_forward_info['ssh_node']`, which wins over a plain value.
        """,
    )

    scenario = Union(
        [CaselessStrEnum(["auto", "direct", "forward", "delayed"]), Callable()],
        default_value="auto",
        config=True,
        help="""
        How a start reaches the notebook server:
        `direct`: `_start()` returns an address the cluster reaches without SSH;
        `forward`: `_start()` returns an address the jump node reaches, tunnelled through it;
        `delayed`: the address is not known yet, the remote side calls JUPYTERHUB_SETUPTUNNEL_URL
        later (a batch job in a queue);
        `auto` (default): delayed when `_start()` returns "", else forward with a jump node and
        direct without. May be a callable `(spawner, address) -> str`, awaited if needed.
        """,
    )

    service_port = Integer(
        8888,
        config=True,
        help="Port of the Kubernetes Service the operator creates; the URL the proxy uses ends in it.",
    )

    extra_labels = Union(
        [Dict(), Callable()],
        default_value={},
        config=True,
        help="""
        Extra labels for the Service (the reference's `extra_labels`). May be a callable
        `(spawner) -> dict`, awaited if needed.
        """,
    )

    remote_forward = Union(
        [Dict(allow_none=True), Callable()],
        default_value=None,
        allow_none=True,
        config=True,
        help="""
        Optional reverse forward (ssh -R) opened on the jump node, so a notebook without internet
        access reaches the hub: `{"bindPort": 8081, "bindAddress": "localhost",
        "target": {"host": "hub", "port": 8081}}`. May be a callable `(spawner) -> dict | None`.
        """,
    )

    wait_for_ready = Bool(
        False,
        config=True,
        help="""
        False (default): start() returns as soon as the facade reports the server's URL, and
        JupyterHub's `http_timeout` covers the rest (in the delayed case: the whole time until
        the remote side calls setuptunnel and the tunnel is up; raise it, e.g. to 1200).
        True: start() returns only when the ForwardedServer is Ready (tunnel up, target
        reachable); then `start_timeout` must cover the remote start.
        """,
    )

    _facade_client: Optional[FacadeClient] = None

    def _facade(self) -> FacadeClient:
        """This spawner's facade client, made on first use (on the hub's event loop)."""
        if self._facade_client is None:
            self._facade_client = FacadeClient(
                self.facade_url,
                self.facade_token,
                request_timeout=self.facade_request_timeout,
                retry_timeout=self.facade_retry_timeout,
                validate_cert=self.facade_validate_cert,
                ca_certs=self.facade_ca_certs,
            )
        return self._facade_client

    async def _resolve_setting(self, value: Any, *args: Any) -> Any:
        """A setting's value: callables get (spawner, *args) and are awaited if they return an awaitable."""
        if callable(value):
            value = value(self, *args)
            if inspect.isawaitable(value):
                value = await value
        return value
