"""The spawn page's side of a start attempt: the events list and JupyterHub's progress() stream.

Events come from the facade (remote systems post them), from phase changes and from the
spawner itself; subclasses add their own with `add_event()` (or, like reference subclasses,
by appending to `self.events`, which progress() notices within a second).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, AsyncIterator, Optional

# How long a failing start waits before it raises, so the failure event reaches the spawn page.
PROGRESS_FLUSH_SECONDS = 0.3

CANCELLED_EVENT = {"progress": 100, "failed": True, "message": "Start cancelled"}


def cancelled_is_not_ready(spawner: Any, ready_event: dict[str, Any]) -> dict[str, Any]:
    """The default `progress_ready_hook`: JupyterHub 5 sends "Server ready" for a spawn that was
    cancelled after start() returned (a user's DELETE while the hub waits for the server to
    answer; with the operator that is every pending delayed start, whose URL is known at once),
    because its progress stream only checks that the server has a URL and is not pending. The
    spawn page would then follow the link to a stopped server; it gets the cancel instead."""
    if getattr(spawner, "_spawn_cancelled", False):
        return dict(CANCELLED_EVENT)
    return ready_event


class ProgressMixin:
    events: list[dict[str, Any]]
    _events_tick: Optional[asyncio.Future] = None

    def add_event(self, event: dict[str, Any]) -> None:
        """Shows `event` ({"progress", "message", "html_message", "failed"}) on the spawn page."""
        self.events.append(event)
        self._wake_progress()

    def _wake_progress(self) -> None:
        tick, self._events_tick = self._events_tick, None
        if tick is not None and not tick.done():
            tick.set_result(None)

    def _progress_over(self) -> bool:
        """True when no more events will come for this start attempt (the spawner decides)."""
        raise NotImplementedError

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        """Every event of the current start attempt from the first, then new ones as they come;
        ends after a failed event or when the attempt is over. Each caller (each open spawn
        page) gets the whole history."""
        index, seen = 0, None
        while True:
            events = self.events
            if events is not seen:
                seen, index = events, 0
            while index < len(events):
                event = events[index]
                index += 1
                yield event
                if event.get("failed"):
                    return
            if self._progress_over():
                return
            if self._events_tick is None:
                self._events_tick = asyncio.get_running_loop().create_future()
            await asyncio.wait([asyncio.shield(self._events_tick)], timeout=1.0)

    @staticmethod
    async def _flush_progress() -> None:
        # JupyterHub stops reading progress() the moment the spawn ends; a short pause lets the
        # spawn page receive the failure event first (the reference paused 2 s for this, E4).
        try:
            await asyncio.sleep(PROGRESS_FLUSH_SECONDS)
        except asyncio.CancelledError:
            pass

    @staticmethod
    def _timestamp() -> str:
        return datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
