"""An in-process fake of the facade (contract 0001 section E) for the spawner's tests.

It serves the spawner endpoints exactly as the contract states them (PUT/PATCH/GET with
long-poll/cancel/DELETE, JSON errors, token auth, percent-encoded segments) and the two hub-compatible
callbacks remote jobs use (progress events, setuptunnel, with the start_id check). A small
"operator" moves each server through its phases the way the real one does, so tests see
Pending -> WaitingForTarget -> Connecting -> Ready, Cancelling -> Cancelled.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Optional

from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

SEG = r"([^/]+)"
SPEC_KEYS = {"userId", "startId", "target", "jumpNode", "servicePort", "labels", "remoteForward"}


class Record:
    def __init__(self, user: str, server: str, spec: dict[str, Any]):
        self.user, self.server, self.spec = user, server, spec
        self.status: dict[str, Any] = {}
        self.reset()

    def reset(self) -> None:
        self.status = {"phase": "Pending", "url": "", "events": [], "eventsDropped": 0, "terminalEvent": None}
        self.spec["cancelRequested"] = False

    @property
    def total(self) -> int:
        return self.status["eventsDropped"] + len(self.status["events"])

    def view(self) -> dict[str, Any]:
        name = f"jupyter-{self.user}" + (f"--{self.server}" if self.server else "")
        phase = self.status["phase"]
        return {
            "name": name,
            "namespace": "jhub",
            "user": self.user,
            "userId": self.spec["userId"],
            "serverName": self.server,
            "startId": self.spec["startId"],
            "phase": phase,
            "url": self.status["url"],
            "ready": phase == "Ready",
            "active": phase not in ("Cancelled", "Failed"),
            "conditions": self.status.get("conditions", []),
            "events": list(self.status["events"]),
            "eventsDropped": self.status["eventsDropped"],
            "terminalEvent": self.status["terminalEvent"],
        }


def check_patch(body: Any) -> Optional[str]:
    """The contract's PATCH body: {startId, target: {host, port}, jumpNode?}, nothing else."""
    if not isinstance(body, dict):
        return "body must be an object"
    if set(body) - {"startId", "target", "jumpNode"}:
        return f"unknown fields {sorted(set(body) - {'startId', 'target', 'jumpNode'})}"
    if not isinstance(body.get("startId"), str) or not body["startId"]:
        return "startId (str) is required"
    target = body.get("target")
    if not isinstance(target, dict) or set(target) != {"host", "port"} or not isinstance(target["port"], int):
        return "target must be {host, port}"
    if "jumpNode" in body and not isinstance(body["jumpNode"], str):
        return "jumpNode must be a string"
    return None


def check_spec(body: Any) -> Optional[str]:
    """The contract's PUT body, strictly: a wrong key or type is the spawner's bug."""
    if not isinstance(body, dict):
        return "body must be an object"
    if set(body) - SPEC_KEYS:
        return f"unknown fields {sorted(set(body) - SPEC_KEYS)}"
    if not isinstance(body.get("userId"), int) or not isinstance(body.get("startId"), str):
        return "userId (int) and startId (str) are required"
    target = body.get("target")
    if target is not None and (set(target) != {"host", "port"} or not isinstance(target["port"], int)):
        return "target must be {host, port}"
    if "jumpNode" in body and not isinstance(body["jumpNode"], str):
        return "jumpNode must be a string"
    if "servicePort" in body and not isinstance(body["servicePort"], int):
        return "servicePort must be an integer"
    labels = body.get("labels", {})
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        return "labels must map strings to strings"
    return None


class FakeFacade:
    def __init__(self, token: str = "facade-secret"):
        self.token = token
        self.records: dict[tuple[str, str], Record] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.uris: list[str] = []  # path and query of every request, in order
        self.callback_tokens: list[str] = []
        self.unavailable = False  # answer 503 to everything
        self.operate = True  # move phases like the operator
        self.url_while_waiting = ""  # a URL reported before the target is known (delayed case)
        self.connect_delay = 0.05
        self._tick: Optional[asyncio.Future] = None
        self._server: Optional[HTTPServer] = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FakeFacade:
        app = web.Application(
            [
                (rf"/api/forwardedservers/{SEG}(?:/{SEG})?/cancel", CancelHandler, {"fake": self}),
                (rf"/api/forwardedservers/{SEG}(?:/{SEG})?", ServerHandler, {"fake": self}),
                (rf"/api/users/progress/events/{SEG}(?:/{SEG})?", EventsHandler, {"fake": self}),
                (rf"/api/users/setuptunnel/{SEG}(?:/{SEG})?", TunnelHandler, {"fake": self}),
            ]
        )
        sockets = bind_sockets(self.port, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self._server = HTTPServer(app)
        self._server.add_sockets(sockets)
        return self

    async def stop(self) -> None:
        """Stops listening (the facade becomes unreachable); start() again on the same port."""
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None

    # ---------------------------------------------------------------- state changes
    def changed(self) -> None:
        tick, self._tick = self._tick, None
        if tick is not None and not tick.done():
            tick.set_result(None)

    async def wait_change(self, timeout: float) -> None:
        if self._tick is None:
            self._tick = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._tick), timeout)
        except asyncio.TimeoutError:
            pass

    def record(self, user: str, server: str = "") -> Optional[Record]:
        return self.records.get((user, server))

    def set_status(self, user: str, server: str = "", **fields: Any) -> None:
        self.records[(user, server)].status.update(fields)
        self.changed()

    def add_event(self, rec: Record, event: dict[str, Any]) -> None:
        rec.status["events"].append(event)
        if event.get("failed"):
            rec.spec["cancelRequested"] = True
            rec.status["terminalEvent"] = event
        self.reconcile(rec)
        self.changed()

    def reconcile(self, rec: Record) -> None:
        if not self.operate:
            return
        spec, status = rec.spec, rec.status
        if spec.get("cancelRequested"):
            if status["phase"] not in ("Cancelling", "Cancelled"):
                status["phase"] = "Cancelling"
                asyncio.get_running_loop().call_later(self.connect_delay, self._cancelled, rec)
        elif not spec.get("target"):
            status.update(phase="WaitingForTarget", url=self.url_while_waiting)
        else:
            url = f"http://{spec['target']['host']}:{spec['target']['port']}"
            if spec.get("jumpNode"):
                status.update(phase="Connecting", url=self.url_while_waiting or url)
                asyncio.get_running_loop().call_later(self.connect_delay, self._ready, rec, url)
            else:
                status.update(phase="Ready", url=url)
        self.changed()

    def _ready(self, rec: Record, url: str) -> None:
        if rec.status["phase"] == "Connecting" and self.records.get((rec.user, rec.server)) is rec:
            rec.status.update(phase="Ready", url=url)
            self.changed()

    def _cancelled(self, rec: Record) -> None:
        rec.status["phase"] = "Cancelled"
        rec.status["terminalEvent"] = rec.status["terminalEvent"] or {
            "progress": 100,
            "failed": True,
            "message": "Start cancelled by request",
        }
        self.changed()


class Base(web.RequestHandler):
    def initialize(self, fake: FakeFacade) -> None:
        self.fake = fake

    def prepare(self) -> None:
        body = json.loads(self.request.body) if self.request.body else None
        self.fake.requests.append((self.request.method, self.request.path, body))
        self.fake.uris.append(f"{self.request.method} {self.request.uri}")
        self.body = body
        if self.fake.unavailable:
            self.fail(503, "facade is unavailable")
        self.check_token()

    def check_token(self) -> None:
        scheme, _, token = self.request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("token", "bearer") or token != self.fake.token:
            self.fail(403, "Missing or invalid credentials.")

    def fail(self, status: int, message: str) -> None:
        self.set_status(status)
        self.finish({"status": status, "message": message})
        raise web.Finish()

    def find(self, user: str, server: Optional[str]) -> Record:
        rec = self.fake.record(user, server or "")
        if rec is None:
            self.fail(404, f"no ForwardedServer for {user}/{server or ''}")
        return rec

    def check_start_id(self, rec: Record) -> None:
        start_id = self.get_query_argument("start_id", None) or (self.body or {}).get("start_id")
        if start_id and start_id != rec.spec["startId"]:
            self.fail(409, "start_id does not match the current start attempt")


class ServerHandler(Base):
    def put(self, user: str, server: Optional[str]) -> None:
        problem = check_spec(self.body)
        if problem:
            self.fail(400, problem)
        key = (user, server or "")
        rec = self.fake.records.get(key)
        created = rec is None
        if created or rec.spec["startId"] != self.body["startId"]:
            rec = self.fake.records[key] = Record(user, server or "", dict(self.body))
        else:
            rec.spec = {**self.body, "cancelRequested": rec.spec.get("cancelRequested", False)}
        self.fake.reconcile(rec)
        self.set_status(201 if created else 200)
        self.finish(rec.view())

    def patch(self, user: str, server: Optional[str]) -> None:
        """Sets the target (and the jump node if given and unset) only if the server of this
        start attempt has none yet; 200 with the view either way."""
        problem = check_patch(self.body)
        if problem:
            self.fail(400, problem)
        rec = self.find(user, server)
        if rec.spec["startId"] != self.body["startId"]:
            self.fail(409, "startId does not match the server's start attempt")
        if not rec.spec.get("target"):
            rec.spec["target"] = dict(self.body["target"])
            if self.body.get("jumpNode") and not rec.spec.get("jumpNode"):
                rec.spec["jumpNode"] = self.body["jumpNode"]
            self.fake.reconcile(rec)
        self.finish(rec.view())

    async def get(self, user: str, server: Optional[str]) -> None:
        rec = self.find(user, server)
        after, wait = self.get_query_argument("after", None), float(self.get_query_argument("wait", "0"))
        if after is not None:
            loop = asyncio.get_running_loop()
            deadline, phase = loop.time() + min(wait, 60), rec.status["phase"]
            key = (user, server or "")
            while (
                self.fake.records.get(key) is rec
                and rec.total <= int(after)
                and rec.status["phase"] == phase
                and loop.time() < deadline
            ):
                await self.fake.wait_change(deadline - loop.time())
            rec = self.find(user, server)
        self.finish(rec.view())

    def delete(self, user: str, server: Optional[str]) -> None:
        self.find(user, server)
        del self.fake.records[(user, server or "")]
        self.fake.changed()
        self.set_status(204)
        self.finish()


class CancelHandler(Base):
    def post(self, user: str, server: Optional[str]) -> None:
        rec = self.find(user, server)
        self.check_start_id(rec)
        rec.spec["cancelRequested"] = True
        self.fake.reconcile(rec)
        self.set_status(202)
        self.finish()


class EventsHandler(Base):
    def check_token(self) -> None:
        # The real facade checks the server's own token against the hub; recorded here.
        self.fake.callback_tokens.append(self.request.headers.get("Authorization", ""))

    def post(self, user: str, server: Optional[str]) -> None:
        rec = self.find(user, server)
        self.check_start_id(rec)
        event = {k: v for k, v in (self.body or {}).items() if k != "start_id"}
        if not event:
            self.fail(400, "empty event")
        self.fake.add_event(rec, event)
        self.set_status(204)
        self.finish()


class TunnelHandler(EventsHandler):
    def post(self, user: str, server: Optional[str]) -> None:
        rec = self.find(user, server)
        self.check_start_id(rec)
        host, _, port = str((self.body or {}).get("service", "")).rpartition(":")
        if not host or not port.isdigit():
            self.fail(400, "service must be host:port")
        rec.spec["target"] = {"host": host, "port": int(port)}
        if (self.body or {}).get("ssh_node"):
            rec.spec["jumpNode"] = self.body["ssh_node"]
        self.fake.reconcile(rec)
        self.set_status(204)
        self.finish()
