"""Pure progress-event synthesis: server views in, events for JupyterHub's spawn page out.

The facade stores the events remote systems post; the phases and conditions the operator and
the runner write are turned into messages here, so a user watching the spawn page sees each
step ("Connecting through jump node hpc-login", "Tunnel ready") and the reason of a failure.
"""

from __future__ import annotations

import html
import re
from typing import Any, Optional

PHASE_PROGRESS = {
    "Pending": 10,
    "WaitingForTarget": 20,
    "Connecting": 60,
    "Ready": 90,
}
# Conditions whose trouble is shown next to the phase message, in the order they matter, and
# the phases that show it (while waiting for the target, the phase message says it all).
DETAIL_CONDITIONS = ("ServiceReady", "TunnelReady", "TargetReachable")
DETAIL_PHASES = ("Pending", "Connecting")

_TAG = re.compile(r"<[^>]*>")
# The facade timestamps posted events like the reference ("2026-01-21 10:11:12.345: ...").
_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?: ")


def facade_events(view: dict[str, Any], seen_total: int) -> tuple[list[dict[str, Any]], int]:
    """Events in `view` the spawner has not yet passed on, and the new total.

    The facade drops the oldest events beyond its caps and counts them in `eventsDropped`, so
    positions are absolute: total = eventsDropped + len(events).
    """
    events = [e for e in view.get("events") or [] if isinstance(e, dict)]
    dropped = int(view.get("eventsDropped") or 0)
    total = dropped + len(events)
    fresh = events[max(0, seen_total - dropped) :] if total > seen_total else []
    return [_without_ready(e) for e in fresh], max(total, seen_total)


def _without_ready(event: dict[str, Any]) -> dict[str, Any]:
    # Only JupyterHub itself may tell the spawn page that the server is ready.
    return {k: v for k, v in event.items() if k not in ("ready", "url")}


def _trouble(view: dict[str, Any]) -> Optional[dict[str, Any]]:
    by_type = {c.get("type"): c for c in view.get("conditions") or [] if isinstance(c, dict)}
    for kind in DETAIL_CONDITIONS:
        cond = by_type.get(kind)
        # Unknown is a condition still being worked out (e.g. "No forward to probe" before the
        # runner listens), not a reason to show.
        if cond and cond.get("status") == "False" and cond.get("message"):
            return cond
    return None


def phase_key(view: dict[str, Any]) -> tuple[str, str]:
    """Identity of what phase_event shows: a new event only when this changes."""
    trouble = _trouble(view) if view.get("phase") in DETAIL_PHASES else None
    return (view.get("phase") or "", trouble.get("reason", "") if trouble else "")


def phase_event(view: dict[str, Any], jump_node: str, last_progress: int) -> Optional[dict[str, Any]]:
    """The message for the view's phase; None for terminal phases (see failure_event) and unknown ones.

    Progress never goes backwards: remote systems post their own percentages.
    """
    phase = view.get("phase") or ""
    if phase not in PHASE_PROGRESS:
        return None
    messages = {
        "Pending": "Waiting for the forward operator",
        "WaitingForTarget": "Waiting for the remote system to report its address",
        "Connecting": f"Connecting through jump node {jump_node}"
        if jump_node
        else "Connecting to the server",
        "Ready": "Tunnel ready" if jump_node else "Service ready",
    }
    message = messages[phase]
    trouble = _trouble(view) if phase in DETAIL_PHASES else None
    if trouble:
        message += f": {trouble['message']}"
    return {"progress": max(PHASE_PROGRESS[phase], last_progress), "message": message}


def failure_event(view: dict[str, Any]) -> dict[str, Any]:
    """The event that ends the progress stream of a failed or cancelled start."""
    terminal = view.get("terminalEvent")
    if isinstance(terminal, dict) and (terminal.get("message") or terminal.get("html_message")):
        event = _without_ready(terminal)
        event.setdefault("progress", 100)
        event["failed"] = True
        return event
    if view.get("phase") == "Failed":
        return {"progress": 100, "failed": True, "message": f"Start failed: {_ready_reason(view)}"}
    return {"progress": 100, "failed": True, "message": "Start cancelled"}


def _ready_reason(view: dict[str, Any]) -> str:
    for cond in view.get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Ready" and cond.get("message"):
            return str(cond["message"])
    trouble = _trouble(view)
    return str(trouble["message"]) if trouble else "the forward operator reported a failure"


def event_text(event: dict[str, Any]) -> str:
    """Plain text of an event for an error message: its message, else its HTML without tags,
    without the leading timestamp."""
    if event.get("message"):
        return _STAMP.sub("", str(event["message"]))
    text = _TAG.sub(" ", str(event.get("html_message") or ""))
    return _STAMP.sub("", " ".join(html.unescape(text).split()))


def terminal_event(view: dict[str, Any]) -> dict[str, Any]:
    """The event that explains why a terminal view ended the start (a posted failed event first)."""
    for event in view.get("events") or []:
        if isinstance(event, dict) and event.get("failed"):
            return _without_ready(event)
    return failure_event(view)


def start_failed_event(summary: str, details: str, now: str) -> dict[str, Any]:
    """The reference's start-failure event (E5): a timestamped <details> block, escaped."""
    body = html.escape(details).replace("\n", "<br>")
    summary_html = f"{html.escape(now)}: {html.escape(summary)}"
    return {
        "progress": 100,
        "failed": True,
        "message": summary,
        "html_message": f"<details><summary>{summary_html}</summary>{body}</details>",
    }


def max_progress(events: list[dict[str, Any]]) -> int:
    values = [e.get("progress") for e in events if isinstance(e, dict)]
    return max([v for v in values if isinstance(v, int)], default=0)
