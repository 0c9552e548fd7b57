"""Helpers the reference's subclasses import (`forwardbasespawner.utils`)."""

from __future__ import annotations

from typing import Any

from tornado.web import HTTPError


def check_custom_scopes(handler: Any) -> None:
    """Lets a JupyterHub API handler's request through if its token has at least one of the
    handler's `required_scopes`; else 403 naming the scopes it has and the ones it needs."""
    if not any(handler.has_scope(scope) for scope in handler.required_scopes):
        raise HTTPError(
            403,
            f"Not allowed with scopes {list(handler.parsed_scopes.keys())}. "
            f"At least one of {handler.required_scopes} is required",
        )
