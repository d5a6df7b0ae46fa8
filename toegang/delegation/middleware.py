"""Reads an actor's roles once per page instead of once per authorization question."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from toegang.delegation import authz

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class RolesCachedForReadsMiddleware:
    """A GET page asks ``authz`` several times (the scope of the URL, the menus, which rows may be
    ended, the header); each answer read the actor's roles again: six identical queries for the
    users list. Within a safe request they are read once (``authz.roles_cached``). A POST, which may
    change roles and then decide again, always reads them afresh.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method not in SAFE_METHODS:
            return self.get_response(request)
        with authz.roles_cached():
            return self.get_response(request)
