"""ForwardSpawner: a JupyterHub spawner base class for notebook servers on remote systems.

Subclasses start the notebook on the remote system; this class asks the forward operator
(through its facade) to make the server reachable, and follows that request:

    async def _start(self) -> str     # "[http(s)://]host:port", or "" if reported later
    async def _poll(self) -> int|None # optional; None = running (default: ask only the facade)
    async def _stop(self, now=False)  # optional; stop the remote server

One start sends one PUT (the ForwardedServer, before `_start()` runs, so the remote side may post
progress events and call setuptunnel while `_start()` is still waiting for it) and, once
`_start()` returned an address, one PATCH with the target, which the facade applies only if no
target is set yet (setuptunnel may have set one meanwhile).

Everything that belongs to one start attempt is in `self.attempt` (attempt.py).
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import os
import uuid
from datetime import datetime
from typing import Any, AsyncIterator, Optional

from jupyterhub.spawner import Spawner
from jupyterhub.utils import random_port
from traitlets import Bool, Callable, CaselessStrEnum, Dict, Float, Integer, List, Unicode, Union, default

from .attempt import StartAttempt
from .client import FacadeClient, FacadeError
from .events import start_failed_event
from .objects import (
    DELAYED,
    DIRECT,
    callback_env,
    choose_scenario,
    hub_url,
    make_server_request,
    make_state,
    make_target_patch,
    parse_address,
    poll_verdict,
)
from .progress import Tick, cancelled_is_not_ready, flush_progress, stream
from .watch import ServerWatch, StartAborted


class ForwardSpawner(Spawner):
    """Settings are traitlets: `c.ForwardSpawner.<name>` (or `c.<YourSubclass>.<name>`)."""

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
        `(spawner) -> dict` or `(spawner, user_options) -> dict`, awaited if needed.
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

    # Per-instance state: traitlets give every spawner its own dict and list.
    start_id = Unicode("", help="uuid4 hex of the current start attempt; fresh after every stop.")
    port_forward_info = Dict(help="Address ('service') and jump node ('ssh_node') of this start.")
    events = List(help="Progress events of the current start attempt, in the order shown.")
    forwarded_server = Unicode("", help="Name of the ForwardedServer (and its Service).")
    chosen_scenario = Unicode("", help="direct, forward or delayed, once _start() returned.")

    @default("progress_ready_hook")
    def _default_progress_ready_hook(self) -> Any:
        return cancelled_is_not_ready

    @default("ip")
    def _default_ip(self) -> str:
        # Remote servers must listen where the jump node reaches them (JUPYTERHUB_SERVICE_URL).
        return "0.0.0.0"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.attempt = StartAttempt()
        self._progress_tick = Tick()
        self._facade_client: Optional[FacadeClient] = None

    # ------------------------------------------------------------------ subclass contract
    async def _start(self) -> str:
        raise NotImplementedError(f"{type(self).__name__} must implement _start()")

    async def _poll(self) -> Optional[int]:
        return None

    async def _stop(self, now: bool = False) -> None:
        return None

    def add_event(self, event: dict[str, Any]) -> None:
        """Shows `event` ({"progress", "message", "html_message", "failed"}) on the spawn page.
        A failed event ends the page's stream; a second one in the same attempt is dropped."""
        if event.get("failed"):
            if self.attempt.terminal_shown:
                self.log.debug("Not showing a second terminal event for %s: %s", self._log_name, event)
                return
            self.attempt.terminal_shown = True
        self.events.append(event)
        self._progress_tick.wake()

    # ------------------------------------------------------------------ start
    async def start(self) -> str:
        if not self.facade_url:
            raise ValueError("c.ForwardSpawner.facade_url is not set")
        self.attempt.close("Start replaced by a new start")
        attempt = self.attempt = StartAttempt(self.start_id or uuid.uuid4().hex)
        self.start_id = attempt.start_id
        attempt.task = asyncio.current_task()
        attempt.follow_spawn_future(getattr(self, "_spawn_future", None))
        self.port = await self._choose_port()
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            url = await self._run_attempt(attempt)
        except BaseException as e:
            if isinstance(e, asyncio.CancelledError):
                for event in await self._cancel_events(loop.time() - began):
                    self.add_event(event)
            await flush_progress()
            raise
        attempt.returned = True
        if attempt.watch is not None:
            attempt.watch.settle()
        self._progress_tick.wake()
        self.log.info("Started %s at %s (%s)", self._log_name, url, self.chosen_scenario)
        return url

    async def _cancel_events(self, elapsed: float) -> list[dict[str, Any]]:
        """What the spawn page shows when start() is cancelled, ending with the terminal event.
        JupyterHub cancels start() on a user's DELETE and when start_timeout runs out; the spawn
        page closes at the terminal event, so it must say which."""
        if self.start_timeout and elapsed >= 0.98 * self.start_timeout:
            message = (
                f"Start timed out after {self.start_timeout} s (c.Spawner.start_timeout) before "
                "the forward operator reported the server's URL"
            )
            return [{"progress": 100, "failed": True, "message": message}]
        return [{"progress": 100, "failed": True, "message": "Start cancelled"}]

    async def _run_attempt(self, attempt: StartAttempt) -> str:
        settings = await self._server_request_settings()
        jump = await self._jump_node()
        direct = self._scenario_setting() == DIRECT
        body = make_server_request(
            user_id=self.user.id,
            start_id=attempt.start_id,
            scenario=DIRECT if direct else None,
            jump_node=jump,
            **settings,
        )
        watch = attempt.watch = self._new_watch(attempt, "" if direct else jump)
        watch.update(await self._register(body))
        watch.start()
        address = await self._remote_start()
        registered, jump = jump, await self._jump_node()
        if registered and not direct and jump != registered:
            raise self._start_failure(
                "Conflicting jump nodes",
                f"_start() chose jump node {jump!r} (port_forward_info['ssh_node']), but the server "
                f"was registered with {registered!r}; choose the jump node per start with a "
                "callable jump_node, or leave jump_node empty",
            )
        try:
            scenario = choose_scenario(await self._decide_scenario(address, jump), address, jump)
            target = parse_address(address) if scenario != DELAYED else None
        except ValueError as e:
            raise self._start_failure(f"Cannot reach the server: {e}", "") from e
        self.chosen_scenario = scenario
        via = jump if scenario != DIRECT else ""
        self.port_forward_info.update({"service": address} if address else {})
        self.port_forward_info.update({"ssh_node": via} if via else {})
        watch.jump_node = via
        if target is not None:
            watch.update(await self._set_target(attempt, make_target_patch(attempt.start_id, target, via)))
        url = hub_url(await watch.wait_for_url(self.wait_for_ready), self.internal_ssl)
        return await self._final_url(url)

    async def _remote_start(self) -> str:
        """Runs the subclass's `_start()`; a failure is shown and raised."""
        try:
            address = await self._start()
        except Exception as e:
            self.log.exception("Failed to start %s on the remote system", self._log_name)
            detail = getattr(e, "log_message", None) or getattr(e, "reason", None) or ""
            self.add_event(start_failed_event(f"Start failed: {e}", str(detail), _timestamp()))
            raise
        return (address or "").strip()

    async def _choose_port(self) -> int:
        """The port the remote notebook listens on (JUPYTERHUB_SERVICE_URL): a random one if 0."""
        return self.port or random_port()

    async def _decide_scenario(self, address: str, jump: str) -> str:
        return str(await self._resolve_setting(self.scenario, address)).lower()

    async def _final_url(self, url: str) -> str:
        """The URL start() returns (the facade's)."""
        return url

    def _scenario_setting(self) -> str:
        return "" if callable(self.scenario) else str(self.scenario).lower()

    async def _service_labels(self) -> dict[str, Any]:
        labels = self.extra_labels
        if callable(labels):
            labels = await self._resolve_setting(labels, *_extra_args(labels, self.user_options))
        return labels or {}

    async def _server_request_settings(self) -> dict[str, Any]:
        """The settings of this attempt's ForwardedServer, resolved once."""
        settings = {
            "service_port": self.service_port,
            "labels": await self._service_labels(),
            "remote_forward": await self._resolve_setting(self.remote_forward),
        }
        try:
            make_server_request(user_id=0, start_id="", scenario=None, **settings)
        except ValueError as e:
            raise self._start_failure("Invalid spawner configuration", str(e)) from e
        return settings

    async def _register(self, body: dict[str, Any]) -> dict[str, Any]:
        """The one PUT of a start attempt."""
        try:
            view = await self._facade().put_server(self.user.name, self.name, body)
        except FacadeError as e:
            raise self._start_failure(
                "Could not register the server with the forward operator", str(e)
            ) from e
        self._took_view(view)
        return view

    async def _set_target(self, attempt: StartAttempt, patch: dict[str, Any]) -> Optional[dict[str, Any]]:
        """The PATCH with `_start()`'s address; the facade keeps a target set meanwhile.
        None: the ForwardedServer is gone (deleted or cancelled by someone else)."""
        try:
            view = await self._facade().patch_server(self.user.name, self.name, patch)
        except FacadeError as e:
            if e.status == 404:
                return None
            if e.status == 409:
                attempt.foreign = True
                raise self._start_failure("The server was taken over by another start", str(e)) from e
            raise self._start_failure(
                "Could not tell the forward operator the server's address", str(e)
            ) from e
        self._took_view(view)
        return view

    def _took_view(self, view: dict[str, Any]) -> None:
        self.forwarded_server = view.get("name") or self.forwarded_server

    def _start_failure(self, summary: str, details: str) -> StartAborted:
        event = start_failed_event(summary, details, _timestamp())
        self.add_event(event)
        return StartAborted(f"{summary}: {details}" if details else summary, event["html_message"])

    def _new_watch(self, attempt: StartAttempt, jump: str) -> ServerWatch:
        client = self._facade()
        user, name = self.user.name, self.name

        async def fetch(after: int, wait: float) -> Optional[dict[str, Any]]:
            return await client.get_server(user, name, after=after, wait=wait)

        return ServerWatch(
            fetch=fetch,
            emit=self.add_event,
            jump_node=jump,
            wait_seconds=min(max(self.facade_long_poll_seconds, 1.0), 60.0),
            keep_going=lambda view: (
                not attempt.returned or (self._spawn_pending and view.get("phase") != "Ready")
            ),
            on_end=lambda outcome: self._watch_ended(attempt, outcome),
            log=self.log,
            name=f"{user}/{name}",
            remote_event=self._remote_event,
        )

    def _remote_event(self, event: dict[str, Any]) -> Optional[dict[str, Any]]:
        """An event a remote system posted, as the spawn page shows it (None: not shown)."""
        return event

    def _watch_ended(self, attempt: StartAttempt, outcome: BaseException) -> None:
        if attempt is self.attempt and attempt.returned and self._spawn_pending and not attempt.stopping:
            asyncio.ensure_future(self._end_pending_spawn(outcome))

    async def _end_pending_spawn(self, outcome: BaseException) -> None:
        """JupyterHub waits up to http_timeout for a URL start() returned; a failed or cancelled
        ForwardedServer ends that wait the way JupyterHub's own DELETE of a pending server does:
        cancel the spawn, give the cancel a second, stop the server."""
        future = self._spawn_future
        if future is None or future.done():
            return
        self.log.warning("Ending the pending spawn of %s: %s", self._log_name, outcome)
        future.cancel()
        await asyncio.sleep(1)
        try:
            if self.server is not None and not self.pending:
                await self.user.stop(self.name)
        except Exception:
            self.log.exception("Failed to stop %s after its start was cancelled", self._log_name)

    # ------------------------------------------------------------------ poll and stop
    async def poll(self) -> Optional[int]:
        attempt = self.attempt
        if attempt.exit_status is not None:
            return attempt.exit_status
        if not (self.start_id or self.forwarded_server):
            return 0
        try:
            status = await self._remote_poll()
        except Exception:
            self.log.exception("Failed to poll %s on the remote system, assuming it runs", self._log_name)
            status = None
        verdict = await self._server_verdict(attempt)
        status = verdict if status is None else status
        if status is None:
            return None
        self.log.info("Server %s is not running (status %s), cleaning up", self._log_name, status)
        attempt.exit_status = status
        if attempt.returned and self._spawn_pending and not attempt.stopping:
            # JupyterHub polls while it waits for the server to answer (up to http_timeout) and
            # does not act on an exit status then: a server that ended before it answered ends
            # its pending spawn here. The event is not shown if the remote side's reason was.
            summary = f"Start failed: the server stopped before it was ready (exit status {status})"
            self.add_event(start_failed_event(summary, "", _timestamp()))
            asyncio.ensure_future(self._end_pending_spawn(RuntimeError(summary)))
        # JupyterHub does not call stop() after a poll() that reported an exit status.
        await self._clean_up_after_exit(attempt)
        return status

    async def _remote_poll(self) -> Optional[int]:
        return await self._poll()

    async def _clean_up_after_exit(self, attempt: StartAttempt) -> None:
        await attempt.teardown(lambda: self._teardown(attempt, now=True))

    async def _server_verdict(self, attempt: StartAttempt) -> Optional[int]:
        try:
            view = await self._facade().get_server(self.user.name, self.name)
        except FacadeError as e:
            # Unknown is not stopped: a hub restart must not end servers the facade cannot vouch for.
            self.log.warning("Could not read ForwardedServer of %s, assuming it runs: %s", self._log_name, e)
            return None
        if view:
            self._took_view(view)
            attempt.foreign = attempt.started and view.get("startId") not in (None, "", attempt.start_id)
        verdict = poll_verdict(view, attempt.start_id)
        watch = attempt.watch
        if verdict is not None and watch is not None and attempt.following and not attempt.foreign:
            # A start that ended while its watch was waiting: what the remote side posted (its
            # failure's reason) is shown before anything this poll concludes.
            watch.update(view)
        return verdict

    async def stop(self, now: bool = False) -> None:
        await self._stop_attempt(now, {})

    async def _stop_attempt(self, now: bool, stop_kwargs: dict[str, Any]) -> None:
        """Cancel (if the start never completed), the subclass's `_stop()`, DELETE of the
        ForwardedServer: once per start attempt, whether stop() or poll() asked first."""
        attempt = self.attempt
        attempt.stopping = True
        attempt.cancel_start()
        await attempt.teardown(lambda: self._teardown(attempt, now, stop_kwargs))
        if attempt.exit_status is None:
            attempt.exit_status = 0

    async def _teardown(
        self, attempt: StartAttempt, now: bool, stop_kwargs: Optional[dict[str, Any]] = None
    ) -> None:
        if attempt.watch is not None:
            attempt.watch.abort(StartAborted("Start cancelled: the server was stopped"))
        client, user, name = self._facade(), self.user.name, self.name
        if attempt.foreign:
            self.log.warning("ForwardedServer of %s belongs to another start now, leaving it", self._log_name)
        elif attempt.started and not attempt.returned:
            try:
                await client.cancel(user, name, attempt.start_id)
            except FacadeError as e:
                self.log.warning("Failed to cancel the start of %s: %s", self._log_name, e)
        try:
            await self._stop(now=now, **(stop_kwargs or {}))
        except Exception:
            self.log.exception("Failed to stop %s on the remote system", self._log_name)
        if attempt.foreign:
            return
        try:
            deleted = await client.delete_server(user, name)
            self.log.info("%s ForwardedServer of %s", "Deleted" if deleted else "Found no", self._log_name)
        except FacadeError as e:
            self.log.error(
                "Failed to delete ForwardedServer of %s; the next start of this server replaces it: %s",
                self._log_name,
                e,
            )

    # ------------------------------------------------------------------ progress, env, state
    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        """The events of the current start attempt, in order, progress never going backwards,
        ending at the first failed event or when the attempt is over."""
        async for event in stream(
            lambda: self.events, self.attempt.progress_over, self._progress_tick, self._progress_wait_seconds
        ):
            yield event

    def _progress_wait_seconds(self) -> float:
        """How long the stream waits before it looks at `events` again without a wake-up."""
        return 1.0

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        public = self.facade_public_url or self.facade_url
        env.update(callback_env(public, self.user.name, self.user.id, self.name, self.start_id))
        return env

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        state.update(
            make_state(
                start_id=self.start_id,
                name=self.forwarded_server,
                scenario=self.chosen_scenario,
                port_forward_info=self.port_forward_info,
            )
        )
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.start_id = state.get("start_id", "")
        # JupyterHub stores state only once start() has returned (and clears it after a stop).
        self.attempt.close("Start replaced by the stored state")
        self.attempt = StartAttempt(self.start_id, returned=bool(self.start_id))
        self.forwarded_server = state.get("forwarded_server", "")
        self.chosen_scenario = state.get("scenario", "")
        self.port_forward_info = copy.deepcopy(state.get("port_forward_info") or {})

    def clear_state(self) -> None:
        super().clear_state()
        old, self.attempt = self.attempt, StartAttempt()
        self.start_id = self.forwarded_server = self.chosen_scenario = ""
        self.port_forward_info = {}
        self.events = []
        old.close()  # after the reset: the end of its watch must not act on the next attempt

    # ------------------------------------------------------------------ helpers
    async def _jump_node(self) -> str:
        if callable(self.jump_node):
            return str(await self._resolve_setting(self.jump_node, self.port_forward_info) or "")
        return str(self.port_forward_info.get("ssh_node") or self.jump_node or "")

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


def _extra_args(hook: Any, user_options: Any) -> tuple[Any, ...]:
    """`(user_options,)` for a hook that takes (spawner, user_options), else `()`."""
    try:
        params = inspect.signature(hook).parameters.values()
    except (TypeError, ValueError):
        return ()
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params):
        return (user_options,)
    return ()


def _timestamp() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
