"""Follows one start attempt's ForwardedServer through the facade's long-poll GET.

One loop per start attempt keeps the latest server view, passes on the events remote systems
post, adds a message for every phase change, and tells waiters when the URL is known or the
attempt has failed or been cancelled. It ends when the attempt ends, never on a facade error:
an unreachable facade is retried with backoff (the spawn page keeps waiting, like the user).
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Optional

from .events import event_text, facade_events, failure_event, phase_event, phase_key, terminal_event
from .objects import is_terminal, start_outcome

Fetch = Callable[[int, float], Awaitable[Optional[dict[str, Any]]]]
MIN_POLL_INTERVAL = 0.5
MAX_BACKOFF = 10.0


class StartAborted(Exception):
    """A start attempt ended by a failure or a cancel; the message is what the user sees."""

    def __init__(self, message: str, html_message: Optional[str] = None):
        super().__init__(message)
        self.jupyterhub_message = message
        if html_message:
            self.jupyterhub_html_message = html_message


@dataclass(eq=False)
class ServerWatch:
    fetch: Fetch
    emit: Callable[[dict[str, Any]], None]
    jump_node: str
    wait_seconds: float
    keep_going: Callable[[dict[str, Any]], bool]
    on_end: Callable[[BaseException], None]
    log: logging.Logger
    name: str
    remote_event: Callable[[dict[str, Any]], Optional[dict[str, Any]]] = lambda e: e

    def __post_init__(self) -> None:
        self.view: Optional[dict[str, Any]] = None
        self.outcome: Optional[BaseException] = None
        self.seen_total = 0
        self.last_progress = 0
        self._key: Optional[tuple[str, str]] = None
        self._failed_emitted = False
        self._tick: asyncio.Future = asyncio.get_running_loop().create_future()
        self._task: Optional[asyncio.Task] = None
        self._settled = False

    @property
    def done(self) -> bool:
        return self.outcome is not None or self._settled or (self._task is not None and self._task.done())

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def update(self, view: Optional[dict[str, Any]]) -> None:
        """Takes a server view (None: the ForwardedServer is gone) and emits what is new."""
        if self.outcome is not None:
            return
        if view is None:
            self._emit(
                {
                    "progress": 100,
                    "failed": True,
                    "message": "Start cancelled: the ForwardedServer was deleted",
                }
            )
            self._end(StartAborted("Start cancelled: the ForwardedServer was deleted"))
            return
        self.view = view
        fresh, self.seen_total = facade_events(view, self.seen_total)
        for event in fresh:
            event = self.remote_event(event)
            if event:
                self._emit(event)
        if is_terminal(view):
            if not self._failed_emitted:
                self._emit(failure_event(view))
            reason = terminal_event(view)
            self._end(StartAborted(event_text(reason) or "Start cancelled", reason.get("html_message")))
            return
        key = phase_key(view)
        if key != self._key:
            self._key = key
            event = phase_event(view, self.jump_node, self.last_progress)
            if event:
                self._emit(event)
        self._notify()

    def abort(self, error: BaseException) -> None:
        """Ends the watch: waiters raise `error`. A request in flight is left to finish (at most
        one long-poll) and its answer ignored; cancelling it would leave tornado to log the
        connection's fate as an error."""
        if self.outcome is None:
            self._end(error)

    def settle(self) -> None:
        """Ends the watch now if `keep_going` says so (the owner's state changed: start returned)."""
        if self.view is not None and not self.keep_going(self.view):
            self._settled = True
            self._notify()

    async def wait_for_url(self, wait_for_ready: bool) -> str:
        """The URL once the facade reports it; raises the outcome of a failed or cancelled start."""
        while True:
            tick = self._tick
            if self.outcome is not None:
                raise self.outcome
            url = start_outcome(self.view, wait_for_ready) if self.view is not None else None
            if url:
                return url
            await asyncio.shield(tick)

    async def changed(self, timeout: float) -> None:
        """Returns after the next update or after `timeout` seconds."""
        try:
            await asyncio.wait_for(asyncio.shield(self._tick), timeout)
        except asyncio.TimeoutError:
            pass

    def _emit(self, event: dict[str, Any]) -> None:
        if isinstance(event.get("progress"), int):
            self.last_progress = max(self.last_progress, event["progress"])
        self._failed_emitted = self._failed_emitted or bool(event.get("failed"))
        self.emit(event)

    def _end(self, outcome: BaseException) -> None:
        self.outcome = outcome
        self._notify()
        self.on_end(outcome)

    def _notify(self) -> None:
        tick, self._tick = self._tick, asyncio.get_running_loop().create_future()
        tick.set_result(None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = 1.0
        failing = False
        while not self.done and (self.view is None or self.keep_going(self.view)):
            began = loop.time()
            before = (self.seen_total, self._key)
            try:
                view = await self.fetch(self.seen_total, self.wait_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if not failing:
                    self.log.warning("Failed to follow ForwardedServer %s, retrying: %s", self.name, e)
                failing = True
                await self.changed(random.uniform(backoff / 2, backoff))
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            if self.done:
                return
            if failing:
                self.log.info("Following ForwardedServer %s again", self.name)
            failing, backoff = False, 1.0
            self.update(view)
            # A facade that answers long-polls at once must not make this loop spin.
            if (self.seen_total, self._key) == before and loop.time() - began < MIN_POLL_INTERVAL:
                await self.changed(MIN_POLL_INTERVAL)
