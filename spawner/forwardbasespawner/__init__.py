"""The reference's module name, provided by jupyterhub-forward-spawner (decision 0042): its
subclasses import `ForwardBaseSpawner` and `forwardbasespawner.utils` from here.

The reference's hub API handlers (progress events, setuptunnel, the server list, the jump node
restart) are the facade's endpoints here; importing them is an error that says so.
"""

from forwardspawner import __version__
from forwardspawner.compat import ForwardBaseSpawner

_FACADE_HANDLERS = {
    "SpawnEventsAPIHandler": "/api/users/progress/events/{user}[/{server}]",
    "SetupTunnelAPIHandler": "/api/users/setuptunnel/{user}[/{server}]",
    "ListServersAPIHandler": "/api/servers",
    "SSHNodeRestartedAPIHandler": "/api/recreateforward/{node}",
}


def __getattr__(name: str):
    if name in _FACADE_HANDLERS:
        raise ImportError(
            f"{name} is not part of the hub here: the jupyterhub-forward-operator's facade serves "
            f"{_FACADE_HANDLERS[name]} (docs/facade.md)"
        )
    raise AttributeError(f"module 'forwardbasespawner' has no attribute {name!r}")


__all__ = ["ForwardBaseSpawner", "__version__"]
