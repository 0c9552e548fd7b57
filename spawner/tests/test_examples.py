"""The examples in examples/ stay true: their settings exist, and the example subclass runs."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from jupyterhub.app import JupyterHub
from jupyterhub.spawner import Spawner
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from traitlets.config import Config, PyFileConfigLoader

from forwardspawner import ForwardSpawner

from .conftest import build_spawner, collect, messages, post_json

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES / "jupyterhub"))
from remote_service_spawner import RemoteServiceSpawner  # noqa: E402

CLASSES = {
    "JupyterHub": JupyterHub,
    "Spawner": Spawner,
    "ForwardSpawner": ForwardSpawner,
    "RemoteServiceSpawner": RemoteServiceSpawner,
}


def unknown_settings(config: Config) -> list[str]:
    bad = []
    for section, values in config.items():
        traits = CLASSES[section].class_traits(config=True)
        bad += [f"{section}.{key}" for key in values if key not in traits]
    return bad


def test_the_plain_config_sets_only_real_settings():
    config = PyFileConfigLoader("jupyterhub_config.py", str(EXAMPLES / "jupyterhub")).load_config()
    assert unknown_settings(config) == []
    assert config.JupyterHub.spawner_class == "remote_service_spawner.RemoteServiceSpawner"
    pick = config.ForwardSpawner.jump_node
    assert pick(type("S", (), {"user_options": {"system": "juwels"}})(), {}) == "juwels-login"


def test_the_z2jh_values_set_only_real_settings():
    values = yaml.safe_load((EXAMPLES / "z2jh" / "values.yaml").read_text())["hub"]
    config = Config(values["config"])
    for snippet in values["extraConfig"].values():
        exec(compile(snippet, "extraConfig", "exec"), {"c": config, "get_config": lambda: config})
    assert unknown_settings(config) == []
    assert config.Spawner.http_timeout == 1200


class RemoteService:
    """A remote start service of the Outpost's shape; in async mode its "batch job" calls
    setuptunnel with the environment the hub sent, a moment later."""

    def __init__(self, notebook: str):
        self.notebook = notebook
        self.running: dict[str, dict[str, Any]] = {}
        self.port = 0

    async def start(self) -> RemoteService:
        service = self

        class Services(web.RequestHandler):
            def post(self) -> None:
                body = json.loads(self.request.body)
                service.running[body["name"]] = body
                if self.request.headers.get("execution-type") == "async":
                    tunnel = body["env"]["JUPYTERHUB_SETUPTUNNEL_URL"]
                    token = body["env"]["JUPYTERHUB_API_TOKEN"]
                    asyncio.ensure_future(service.job(tunnel, token))
                    self.finish({"service": ""})
                else:
                    self.finish({"service": service.notebook})

        class One(web.RequestHandler):
            def get(self, name: str, start_id: str) -> None:
                if name not in service.running:
                    raise web.HTTPError(404)
                self.finish({"status": None})

            def delete(self, name: str, start_id: str) -> None:
                if service.running.pop(name, None) is None:
                    raise web.HTTPError(404)
                self.finish({})

        sockets = bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self.server = HTTPServer(
            web.Application([(r"/services", Services), (r"/services/([^/]+)/([^/]+)", One)])
        )
        self.server.add_sockets(sockets)
        return self

    async def job(self, tunnel_url: str, token: str) -> None:
        await asyncio.sleep(0.3)
        assert await post_json(tunnel_url, {"service": self.notebook}, token) == 204


@pytest.fixture
async def remote():
    service = await RemoteService("node17:40001").start()
    yield service
    service.server.stop()


@pytest.mark.parametrize("remote_async", [False, True], ids=["sync", "async"])
async def test_the_example_subclass_starts_polls_and_stops(facade, remote, remote_async):
    spawner = build_spawner(
        facade,
        cls=RemoteServiceSpawner,
        server="gpu",
        jump_node="hpc-login",
        remote_async=remote_async,
    )
    spawner.remote_url = f"http://127.0.0.1:{remote.port}/services"
    spawner._spawn_pending = True
    assert await spawner.start() == "http://node17:40001"
    sent = remote.running["gpu"]
    assert sent["user_options"] == {"start_id": spawner.start_id}
    assert sent["env"]["JUPYTERHUB_USER_ID"] == "7"
    assert all(k.startswith(("JUPYTER_", "JUPYTERHUB_")) for k in sent["env"])
    assert spawner.get_state()["scenario"] == ("delayed" if remote_async else "forward")
    assert messages(await collect(spawner.progress()))[-1] == "Tunnel ready"

    assert await spawner.poll() is None
    del remote.running["gpu"]
    assert await spawner.poll() == 0
    assert facade.record("alice", "gpu") is None
