# JupyterHub configuration for notebook servers on remote systems, reached through the
# jupyterhub-forward-operator. Start with:  jupyterhub -f examples/jupyterhub/jupyterhub_config.py
#
# Needs: `pip install jupyterhub-forward-spawner` (the spawner/ folder of this repository), the
# operator and its facade installed in the cluster (manifests/), a JumpNode per jump host, and a
# facade token with the `servers` scope in JUPYTERHUB_FORWARD_FACADE_TOKEN.
import os
import sys

# remote_service_spawner.py lives next to this file; in your deployment it is your own module.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

c = get_config()  # noqa: F821 (provided by JupyterHub when it loads this file)

c.JupyterHub.spawner_class = "remote_service_spawner.RemoteServiceSpawner"
c.JupyterHub.allow_named_servers = True
# Remote servers outlive the hub: never stop them when the hub stops or restarts.
c.JupyterHub.cleanup_servers = False

# --- the facade ---------------------------------------------------------------------------
# How the hub reaches it (in-cluster Service of manifests/).
c.ForwardSpawner.facade_url = os.environ.get(
    "FORWARD_FACADE_URL", "http://jupyterhub-forward-facade.jfo-system.svc:8080"
)
# How remote jobs reach it: JUPYTERHUB_EVENTS_URL and JUPYTERHUB_SETUPTUNNEL_URL start here.
c.ForwardSpawner.facade_public_url = "https://forward.hub.example.org"
# The token is read from JUPYTERHUB_FORWARD_FACADE_TOKEN; set c.ForwardSpawner.facade_token to override.


# --- where the tunnel goes ----------------------------------------------------------------
# A JumpNode name or one of its aliases, chosen per start from the user's options.
def jump_node_for(spawner, port_forward_info):
    systems = {"juwels": "juwels-login", "jureca": "jureca-login"}
    return systems.get((spawner.user_options or {}).get("system", ""), "hpc-login")


c.ForwardSpawner.jump_node = jump_node_for
# auto: delayed when the remote side has no address yet, forward through the jump node otherwise.
c.ForwardSpawner.scenario = "auto"
c.ForwardSpawner.service_port = 8888
c.ForwardSpawner.extra_labels = {"hub.jupyter.org/network-access-hub": "true"}

# --- the remote system (the example subclass) -----------------------------------------------
c.RemoteServiceSpawner.remote_url = "https://outpost.hpc.example.org/services"
c.RemoteServiceSpawner.remote_headers = {
    "Authorization": "Basic " + os.environ.get("OUTPOST_BASIC_AUTH", ""),
}
c.RemoteServiceSpawner.remote_async = True

# --- what the remote notebook needs -------------------------------------------------------------
# The notebook calls the hub API (OAuth, activity) at a URL it can reach.
c.Spawner.hub_connect_url = "https://hub.example.org"
c.Spawner.ip = "0.0.0.0"

# --- timeouts for slow remote starts ------------------------------------------------------------
# start() returns once the facade reports the Service URL; start_timeout covers the remote
# service's answer. http_timeout covers the rest: for a queued batch job, the queue time.
c.Spawner.start_timeout = 300
c.Spawner.http_timeout = 1200
c.Spawner.poll_interval = 30
