"""A notebook-like server for the end-to-end test and the demo: it runs on the "compute node"
(inside a network namespace) and answers with who asked, from where, and where it runs.

With a JupyterHub environment (JUPYTERHUB_API_TOKEN set by the spawner) it behaves like a
single-user server: it listens on JUPYTERHUB_SERVICE_URL, serves under JUPYTERHUB_SERVICE_PREFIX
and lets only the server's owner in, through the hub's OAuth (jupyterhub.services.auth), asking
the hub API at JUPYTERHUB_API_URL. Without one (the demo without a hub) it serves everyone on
the port given as the first argument.

JOB_QUEUE_SECONDS (default 0) makes it wait that long before it listens, like a batch job waiting
in its queue. It prints "listening on <host>:<port>" once it accepts connections.
"""

from __future__ import annotations

import html
import os
import socket
import sys
import time
from urllib.parse import urlsplit

from tornado import ioloop, web

NETNS_DIR = "/run/netns"


def network_namespace() -> str:
    """Name of the network namespace this process runs in (as `ip netns identify` finds it)."""
    try:
        mine = os.stat("/proc/self/ns/net").st_ino
        for name in sorted(os.listdir(NETNS_DIR)):
            if os.stat(os.path.join(NETNS_DIR, name)).st_ino == mine:
                return name
    except OSError:
        pass
    return "(the host's network)"


def page(user: str, server: str, peer: str) -> str:
    rows = {
        "user": user,
        "server": server or "(default)",
        "network namespace": network_namespace(),
        "host name": socket.gethostname(),
        "connection from": peer,
        "pid": str(os.getpid()),
    }
    cells = "".join(
        f'<tr><th>{html.escape(k)}</th><td id="{k.replace(" ", "-")}">{html.escape(v)}</td></tr>'
        for k, v in rows.items()
    )
    return (
        "<!doctype html><html><head><title>Remote notebook</title></head><body>"
        f"<h1>Hello {html.escape(user)}, this is your remote notebook server</h1>"
        f"<table>{cells}</table></body></html>"
    )


class OpenHandler(web.RequestHandler):
    """The demo without a hub: anyone may look."""

    def get(self, _path: str = "") -> None:
        self.finish(page("(no hub: anyone)", "", self.request.remote_ip or ""))


def hub_app() -> tuple[web.Application, str, int]:
    from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
    from jupyterhub.utils import url_path_join

    prefix = os.environ["JUPYTERHUB_SERVICE_PREFIX"]
    url = urlsplit(os.environ["JUPYTERHUB_SERVICE_URL"])

    class HomeHandler(HubOAuthenticated, web.RequestHandler):
        @web.authenticated
        def get(self, _path: str = "") -> None:
            model = self.get_current_user()
            server = os.environ.get("JUPYTERHUB_SERVER_NAME", "")
            self.set_header("X-JupyterHub-Version", "5")
            self.finish(page(model["name"], server, self.request.remote_ip or ""))

    app = web.Application(
        [
            (url_path_join(prefix, "oauth_callback"), HubOAuthCallbackHandler),
            (prefix + "(.*)", HomeHandler),
        ],
        cookie_secret=os.urandom(32),
    )
    return app, url.hostname or "0.0.0.0", url.port or 8888


def main() -> None:
    time.sleep(float(os.environ.get("JOB_QUEUE_SECONDS") or 0))
    if os.environ.get("JUPYTERHUB_API_TOKEN"):
        app, host, port = hub_app()
    else:
        app = web.Application([(r"/(.*)", OpenHandler)])
        host, port = "0.0.0.0", int(sys.argv[1])
    app.listen(port, host)
    print(f"listening on {host}:{port}", flush=True)
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
