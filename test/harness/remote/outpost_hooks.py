"""Per-start settings of the OutpostSpawner test, as a site gives them: callables, the form the
reference documents for `start_async`, `stop_async` and `ssh_during_startup`.

The user option `start_async` chooses the Outpost's execution type for the start and the stop.
A synchronous start answers with the notebook's address, which the hub tunnels to at once
(`ssh_during_startup`); an asynchronous one answers before the notebook exists, so its address
comes later, through setuptunnel, and the hub must not tunnel at start.
"""

from __future__ import annotations

from typing import Any


def start_async(spawner: Any) -> bool:
    return bool((spawner.user_options or {}).get("start_async"))


def stop_async(spawner: Any) -> bool:
    return start_async(spawner)


def ssh_during_startup(spawner: Any) -> bool:
    return not start_async(spawner)
