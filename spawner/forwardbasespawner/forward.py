"""`forwardbasespawner.forward` of the reference: the spawner class and its module helper."""

from forwardspawner.compat import ForwardBaseSpawner, get_name

__all__ = ["ForwardBaseSpawner", "get_name"]
