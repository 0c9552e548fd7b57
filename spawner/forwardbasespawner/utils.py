"""`forwardbasespawner.utils` of the reference: the helpers its subclasses import."""

from forwardspawner.utils import check_custom_scopes

__all__ = ["check_custom_scopes"]
