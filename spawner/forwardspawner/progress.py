"""The spawn page's progress stream: JupyterHub's progress() over a spawner's events list.

Events come from the facade (remote systems post them), from phase changes and from the
spawner itself; subclasses add their own with `add_event()` or, like the reference's
subclasses, by appending to `spawner.events` (noticed within `yield_wait_seconds`).

What the page sees is in the order the events were added, its progress never goes backwards
(a lower percentage is raised to the highest one shown so far), and it ends at the first
failed event: one terminal event per start attempt.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Callable, Optional

# How long a failing start waits before it raises, so the failure event reaches the spawn page.
PROGRESS_FLUSH_SECONDS = 0.3

CANCELLED_EVENT = {"progress": 100, "failed": True, "message": "Start cancelled"}
# What JupyterHub itself sends after the progress of a cancelled spawn.
SPAWN_CANCELLED = {"progress": 100, "failed": True, "message": "Spawn cancelled"}


def cancelled_is_not_ready(spawner: Any, ready_event: dict[str, Any]) -> dict[str, Any]:
    """The default `progress_ready_hook`: JupyterHub sends "Server ready" for a spawn that was
    cancelled after start() returned (a user's DELETE while the hub waits for the server to
    answer; with the operator that is every pending delayed start, whose URL is known at once),
    because its progress stream only checks that the server has a URL and is not pending. The
    spawn page would then follow the link to a stopped server; it gets the cancel instead: the
    attempt's terminal event if the stream has not shown one, else JupyterHub's own closing
    event for a cancelled spawn (one terminal event per start attempt)."""
    attempt = getattr(spawner, "attempt", None)
    if attempt is not None and attempt.spawn_cancelled:
        return dict(SPAWN_CANCELLED if attempt.terminal_shown else CANCELLED_EVENT)
    return ready_event


def shown(event: dict[str, Any], highest: int) -> dict[str, Any]:
    """The event as the page shows it: its progress raised to `highest` if lower."""
    progress = event.get("progress")
    if isinstance(progress, (int, float)) and not isinstance(progress, bool) and progress < highest:
        return {**event, "progress": highest}
    return event


class Tick:
    """Wakes the progress streams waiting for a new event."""

    def __init__(self) -> None:
        self._future: Optional[asyncio.Future] = None

    def wake(self) -> None:
        future, self._future = self._future, None
        if future is not None and not future.done():
            future.set_result(None)

    async def wait(self, timeout: float) -> None:
        if self._future is None:
            self._future = asyncio.get_running_loop().create_future()
        await asyncio.wait([asyncio.shield(self._future)], timeout=timeout)


async def stream(
    events: Callable[[], list[dict[str, Any]]],
    over: Callable[[], bool],
    tick: Tick,
    wait_seconds: Callable[[], float],
) -> AsyncIterator[dict[str, Any]]:
    """Every event of the current start attempt from the first, then new ones as they come;
    ends after a failed event or when `over()` says no more will come. Each caller (each open
    spawn page) gets the whole history. A subclass that replaces the list (`spawner.events =
    [...]`) starts it anew."""
    index, seen, highest = 0, None, 0
    while True:
        current = events()
        if current is not seen:
            seen, index = current, 0
        while index < len(current):
            event = current[index]
            index += 1
            if not isinstance(event, dict) or not event:
                continue
            out = shown(event, highest)
            progress = out.get("progress")
            if isinstance(progress, (int, float)) and not isinstance(progress, bool):
                highest = max(highest, int(progress))
            yield out
            if out.get("failed"):
                return
        if over():
            return
        await tick.wait(max(wait_seconds(), 0.05))


async def flush_progress() -> None:
    """JupyterHub stops reading progress() the moment the spawn ends; a short pause lets the
    spawn page receive the failure event first."""
    try:
        await asyncio.sleep(PROGRESS_FLUSH_SECONDS)
    except asyncio.CancelledError:
        pass
