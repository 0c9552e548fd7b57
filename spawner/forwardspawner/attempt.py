"""One start attempt of a server: from start() until the server is stopped and cleaned up.

A spawner holds exactly one attempt at a time (`spawner.attempt`). start() makes a new one;
load_state() makes one for a server a previous hub process started; clear_state() closes it and
leaves an empty one. Everything that belongs to one attempt lives here, so nothing of an old
attempt (a watch, a teardown, an exit status) can act on the next one.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Optional

from .watch import ServerWatch, StartAborted


class StartAttempt:
    def __init__(self, start_id: str = "", *, returned: bool = False):
        self.start_id = start_id
        # start() returned a URL (or the hub's state says an earlier process's start() did).
        self.returned = returned
        # stop() has begun: the end of the watch must not end the spawn a second time.
        self.stopping = False
        # Another start attempt took the ForwardedServer over: it is not ours to cancel or delete.
        self.foreign = False
        # JupyterHub cancelled the spawn future (a user's stop of a pending start).
        self.spawn_cancelled = False
        # A failed event was shown: the progress stream has ended for this attempt.
        self.terminal_shown = False
        self.task: Optional[asyncio.Task] = None
        self.watch: Optional[ServerWatch] = None
        self.exit_status: Optional[int] = None
        self._teardown: Optional[asyncio.Future] = None

    @property
    def started(self) -> bool:
        """This attempt registered (or may have registered) a ForwardedServer."""
        return bool(self.start_id)

    @property
    def following(self) -> bool:
        """The watch still follows the ForwardedServer (more progress events may come)."""
        return self.watch is not None and not self.watch.done

    def progress_over(self) -> bool:
        """No more events will come: start() returned and the watch has ended, or a failed
        event was shown."""
        return self.terminal_shown or (self.returned and not self.following)

    def follow_spawn_future(self, future: Optional[asyncio.Future]) -> None:
        """Remembers a cancel of JupyterHub's spawn future: JupyterHub clears the future when it
        is cancelled, before its progress stream asks progress_ready_hook for the ready event."""
        if future is None:
            return

        def ended(f: asyncio.Future) -> None:
            self.spawn_cancelled = f.cancelled()

        future.add_done_callback(ended)

    def cancel_start(self) -> None:
        """Cancels a start() that is still running (not from inside it)."""
        task = self.task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()

    async def teardown(self, run: Callable[[], Awaitable[None]]) -> None:
        """Runs `run` once per attempt, whoever asks first (stop() or a poll() that found the
        server gone); later callers wait for the same run."""
        if self._teardown is None:
            self._teardown = asyncio.ensure_future(run())
        await asyncio.shield(self._teardown)

    def close(self, reason: str = "Start cancelled: the server was stopped") -> None:
        """Ends the watch; its end no longer acts on anything (the attempt is over)."""
        watch, self.watch = self.watch, None
        if watch is not None:
            watch.abort(StartAborted(reason))
