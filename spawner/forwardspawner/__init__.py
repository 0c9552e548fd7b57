"""JupyterHub spawner base class for notebook servers on remote systems, reached through the
jupyterhub-forward-operator (its facade creates and follows one ForwardedServer per server)."""

from .attempt import StartAttempt
from .client import FacadeClient, FacadeError
from .compat import ForwardBaseSpawner
from .spawner import ForwardSpawner
from .watch import StartAborted

__version__ = "0.1.0"

__all__ = [
    "FacadeClient",
    "FacadeError",
    "ForwardBaseSpawner",
    "ForwardSpawner",
    "StartAborted",
    "StartAttempt",
    "__version__",
]
