"""ForwardSpawner: a JupyterHub spawner base class for notebook servers on remote systems.

Subclasses start the notebook on the remote system; this class asks the forward operator
(through its facade) to make the server reachable, and follows that request:

    async def _start(self) -> str     # "[http(s)://]host:port", or "" if reported later
    async def _poll(self) -> int|None # optional; None = running (default: ask only the facade)
    async def _stop(self, now=False)  # optional; stop the remote server

The ForwardedServer is created before `_start()` runs, so the remote side may post progress
events and call setuptunnel while `_start()` is still waiting for it.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from typing import Any, Optional

from jupyterhub.spawner import Spawner
from jupyterhub.utils import random_port
from traitlets import Dict, List, Unicode, default

from .client import FacadeError
from .config import ForwardSpawnerConfig
from .events import ProgressMixin, cancelled_is_not_ready
from .objects import (
    DELAYED,
    DIRECT,
    callback_env,
    choose_scenario,
    hub_url,
    make_server_request,
    make_state,
    parse_address,
)
from .progress import start_failed_event
from .stopping import StopMixin
from .watch import ServerWatch, StartAborted


class ForwardSpawner(ProgressMixin, StopMixin, Spawner, ForwardSpawnerConfig):
    # Per-instance state: traitlets give every spawner its own dict and list (no W-1).
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

    # ------------------------------------------------------------------ subclass contract
    async def _start(self) -> str:
        raise NotImplementedError(f"{type(self).__name__} must implement _start()")

    async def _poll(self) -> Optional[int]:
        return None

    async def _stop(self, now: bool = False) -> None:
        return None

    # ------------------------------------------------------------------ start
    async def start(self) -> str:
        if not self.facade_url:
            raise ValueError("c.ForwardSpawner.facade_url is not set")
        self.start_id = self.start_id or uuid.uuid4().hex
        self.port = self.port or random_port()
        self._start_task = asyncio.current_task()
        self._follow_spawn_future()
        self._start_returned = self._stopping = self._foreign = False
        self._teardown_task = self._exit_status = None
        if self._watch is not None:  # a previous attempt that was never cleared
            self._watch.abort(StartAborted("Start replaced by a new start"))
        began = asyncio.get_running_loop().time()
        try:
            url = await self._start_attempt()
        except BaseException as e:
            if isinstance(e, asyncio.CancelledError):
                self.add_event(self._cancel_event(asyncio.get_running_loop().time() - began))
            await self._flush_progress()
            raise
        self._start_returned = True
        if self._watch is not None:
            self._watch.settle()
        self._wake_progress()
        self.log.info("Started %s at %s (%s)", self._log_name, url, self.chosen_scenario)
        return url

    def _follow_spawn_future(self) -> None:
        # JupyterHub clears _spawn_future when it is cancelled, before its progress stream asks
        # progress_ready_hook for the ready event; remember the cancel for the hook
        # (events.cancelled_is_not_ready). Done callbacks run before the stream resumes.
        self._spawn_cancelled = False
        future = getattr(self, "_spawn_future", None)
        if future is not None:

            def ended(f: asyncio.Future) -> None:
                self._spawn_cancelled = f.cancelled()

            future.add_done_callback(ended)

    def _cancel_event(self, elapsed: float) -> dict[str, Any]:
        # JupyterHub cancels start() on a user's DELETE and when start_timeout runs out; the spawn
        # page closes at this event, so it must say which.
        if self.start_timeout and elapsed >= 0.98 * self.start_timeout:
            message = (
                f"Start timed out after {self.start_timeout} s (c.Spawner.start_timeout) before "
                "the forward operator reported the server's URL"
            )
            return {"progress": 100, "failed": True, "message": message}
        return {"progress": 100, "failed": True, "message": "Start cancelled"}

    async def _start_attempt(self) -> str:
        settings = await self._server_request_settings()
        jump = await self._jump_node()
        first = self._server_request(
            settings, None if self._scenario_setting() != DIRECT else DIRECT, None, jump
        )
        watch = self._watch = self._new_watch(jump if self._scenario_setting() != DIRECT else "")
        watch.update(await self._put_server(first))
        watch.start()
        address = await self._remote_start()
        jump = await self._jump_node()
        try:
            scenario = choose_scenario(
                str(await self._resolve_setting(self.scenario, address)).lower(), address, jump
            )
            final = self._server_request(
                settings, scenario, parse_address(address) if scenario != DELAYED else None, jump
            )
        except ValueError as e:
            raise self._start_failure(f"Cannot reach the server: {e}", "") from e
        self.chosen_scenario = scenario
        self.port_forward_info.update({"service": address} if address else {})
        self.port_forward_info.update({"ssh_node": jump} if jump and scenario != DIRECT else {})
        watch.jump_node = jump if scenario != DIRECT else ""
        # A delayed start must not overwrite a target that setuptunnel set meanwhile.
        untouched = (watch.view or {}).get("phase") in (None, "Pending", "WaitingForTarget")
        if final != first and (scenario != DELAYED or untouched):
            watch.update(await self._put_server(final))
        return hub_url(await watch.wait_for_url(self.wait_for_ready), self.internal_ssl)

    async def _remote_start(self) -> str:
        try:
            address = await self._start()
        except Exception as e:
            self.log.exception("Failed to start %s on the remote system", self._log_name)
            detail = getattr(e, "log_message", None) or getattr(e, "reason", None) or ""
            self.add_event(start_failed_event(f"Start failed: {e}", str(detail), self._timestamp()))
            raise
        return (address or "").strip()

    def _scenario_setting(self) -> str:
        return "" if callable(self.scenario) else str(self.scenario).lower()

    async def _server_request_settings(self) -> dict[str, Any]:
        """The settings every request of this attempt carries, resolved once."""
        settings = {
            "service_port": self.service_port,
            "labels": await self._resolve_setting(self.extra_labels),
            "remote_forward": await self._resolve_setting(self.remote_forward),
        }
        try:
            self._server_request(settings, None, None, "")
        except ValueError as e:
            raise self._start_failure("Invalid spawner configuration", str(e)) from e
        return settings

    def _server_request(
        self, settings: dict[str, Any], scenario: Optional[str], target: Any, jump: str
    ) -> dict[str, Any]:
        return make_server_request(
            user_id=self.user.id,
            start_id=self.start_id,
            scenario=scenario,
            target=target,
            jump_node=jump,
            **settings,
        )

    async def _put_server(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            view = await self._facade().put_server(self.user.name, self.name, body)
        except FacadeError as e:
            raise self._start_failure(
                "Could not register the server with the forward operator", str(e)
            ) from e
        self.forwarded_server = view.get("name") or self.forwarded_server
        return view

    def _start_failure(self, summary: str, details: str) -> StartAborted:
        event = start_failed_event(summary, details, self._timestamp())
        self.add_event(event)
        return StartAborted(f"{summary}: {details}" if details else summary, event["html_message"])

    def _new_watch(self, jump: str) -> ServerWatch:
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
                not self._start_returned or (self._spawn_pending and view.get("phase") != "Ready")
            ),
            on_end=self._attempt_ended,
            log=self.log,
            name=f"{user}/{name}",
        )

    def _attempt_ended(self, outcome: BaseException) -> None:
        if self._start_returned and self._spawn_pending and not self._stopping:
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

    # ------------------------------------------------------------------ progress, env, state
    def _progress_over(self) -> bool:
        return self._start_returned and (self._watch is None or self._watch.done)

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
        self._start_returned = bool(self.start_id)
        self.forwarded_server = state.get("forwarded_server", "")
        self.chosen_scenario = state.get("scenario", "")
        self.port_forward_info = copy.deepcopy(state.get("port_forward_info") or {})

    def clear_state(self) -> None:
        super().clear_state()
        watch, self._watch = self._watch, None
        self.start_id = self.forwarded_server = self.chosen_scenario = ""
        self.port_forward_info = {}
        self.events = []
        self._start_task = self._teardown_task = self._exit_status = None
        self._start_returned = self._stopping = self._foreign = False
        if watch is not None:  # after the reset: its end must not act on the next attempt
            watch.abort(StartAborted("Start cancelled: the server was stopped"))

    # ------------------------------------------------------------------ helpers
    async def _jump_node(self) -> str:
        if callable(self.jump_node):
            return str(await self._resolve_setting(self.jump_node, self.port_forward_info) or "")
        return str(self.port_forward_info.get("ssh_node") or self.jump_node or "")


class ForwardBaseSpawner(ForwardSpawner):
    """The reference's class name, so subclasses written for it import with one changed line;
    settings may be given as `c.ForwardBaseSpawner.*` or `c.ForwardSpawner.*`."""
