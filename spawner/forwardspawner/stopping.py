"""poll() and stop(): the half of a server's life that decides it has ended and cleans up.

Cleanup (cancel if the start never completed, the subclass's `_stop()`, delete the
ForwardedServer) runs once per start attempt, whether stop() or a poll() that found the
server gone triggered it. JupyterHub does not call stop() after a poll() that reported an
exit status, so poll() cleans up itself.
"""

from __future__ import annotations

import asyncio
from typing import Any, Optional

from .client import FacadeError
from .objects import poll_verdict
from .watch import ServerWatch, StartAborted


class StopMixin:
    # Owned by ForwardSpawner; declared here for the reader.
    start_id: str
    forwarded_server: str
    user: Any
    name: str
    log: Any
    _log_name: str
    _watch: Optional[ServerWatch] = None
    _start_task: Optional[asyncio.Task] = None
    _start_returned = False
    _stopping = False
    _teardown_task: Optional[asyncio.Future] = None
    _exit_status: Optional[int] = None
    _foreign = False  # the ForwardedServer now belongs to another start attempt: not ours to delete

    async def _poll(self) -> Optional[int]:
        raise NotImplementedError

    async def _stop(self, now: bool = False) -> None:
        raise NotImplementedError

    async def poll(self) -> Optional[int]:
        if self._exit_status is not None:
            return self._exit_status
        if not (self.start_id or self.forwarded_server):
            return 0
        try:
            status = await self._poll()
        except Exception:
            self.log.exception("Failed to poll %s on the remote system, assuming it runs", self._log_name)
            status = None
        verdict = await self._server_verdict()
        status = verdict if status is None else status
        if status is None:
            return None
        self.log.info("Server %s is not running (status %s), cleaning up", self._log_name, status)
        await self._teardown(now=True)
        self._exit_status = status
        return status

    async def _server_verdict(self) -> Optional[int]:
        try:
            view = await self._facade().get_server(self.user.name, self.name)
        except FacadeError as e:
            # Unknown is not stopped: a hub restart must not end servers the facade cannot vouch for.
            self.log.warning("Could not read ForwardedServer of %s, assuming it runs: %s", self._log_name, e)
            return None
        if view:
            self.forwarded_server = view.get("name") or self.forwarded_server
            self._foreign = bool(self.start_id) and view.get("startId") not in (None, "", self.start_id)
        return poll_verdict(view, self.start_id)

    async def stop(self, now: bool = False) -> None:
        self._stopping = True
        task = self._start_task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
        await self._teardown(now)
        if self._exit_status is None:
            self._exit_status = 0

    async def _teardown(self, now: bool) -> None:
        """Cancel (if the start never completed), `_stop()`, delete: once per start attempt."""
        if self._teardown_task is None:
            self._teardown_task = asyncio.ensure_future(self._do_teardown(now))
        await asyncio.shield(self._teardown_task)

    async def _do_teardown(self, now: bool) -> None:
        if self._watch is not None:
            self._watch.abort(StartAborted("Start cancelled: the server was stopped"))
        client, user, name = self._facade(), self.user.name, self.name
        if self._foreign:
            self.log.warning("ForwardedServer of %s belongs to another start now, leaving it", self._log_name)
        if self.start_id and not self._start_returned and not self._foreign:
            try:
                await client.cancel(user, name, self.start_id)
            except FacadeError as e:
                self.log.warning("Failed to cancel the start of %s: %s", self._log_name, e)
        try:
            await self._stop(now=now)
        except Exception:
            self.log.exception("Failed to stop %s on the remote system", self._log_name)
        if self._foreign:
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
