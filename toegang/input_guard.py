"""Refuses, in one place for every entry point, text that no field of toegang may hold: a NUL character
(or a lone UTF-16 surrogate, which is not text either).

PostgreSQL cannot store a NUL in a text column, and its driver refuses one even in a query's parameter
(``DataError``): without this guard a NUL in any value that reaches a query (a login name, an OAuth
``client_id``, a search box, a session cookie) answered 500. A surrogate (``"\\ud800"`` in JSON) cannot be
encoded as UTF-8 and fails the same way. No legitimate value holds either, so the request is refused
before anything reads it: the path, the query string, every header (the cookies and the HTTP Basic
credentials decoded, RFC 7617 and RFC 6749 §2.3.1), and the body: a form's fields and file names
(a file's content is the view's: the CSV import refuses control characters itself), a JSON document's
keys and strings, any other body's raw bytes.

The answer is a 400 in the form its caller reads: JSON ``{"error": "invalid_request", ...}`` for the
API (``/api/``) and the OAuth endpoints that programs call (``/oauth/token/`` and the like, RFC 6749
§5.2, and the discovery documents under ``/.well-known/``), and a translated HTML page for the portal
and for the OAuth pages a browser opens (authorization, logout). It runs right after
``SecurityMiddleware`` in both ``settings.MIDDLEWARE`` and ``settings.API_MIDDLEWARE``, before the
session (whose key comes from a cookie) and everything else.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

# NUL and the surrogate code points (never text on their own; Django decodes bytes with "replace",
# so they come only from JSON escapes or a header's latin-1).
_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")
# OAuth pages a person's browser opens: they get the HTML page, not the JSON error.
BROWSER_OAUTH_PATHS = ("/oauth/authorize/", "/oauth/logout/")


def _bad(value: str) -> bool:
    return _FORBIDDEN.search(value) is not None


def _any_bad(values: Iterable[str]) -> bool:
    return any(_bad(v) for v in values)


def _query_bad(query: QueryDict) -> bool:
    return any(_bad(key) or _any_bad(values) for key, values in query.lists())


def _json_bad(document: Any) -> bool:
    """Any key or string of a parsed JSON document with a forbidden character (iterative: deep nesting)."""
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _bad(item):
                return True
        elif isinstance(item, dict):
            if _any_bad(item.keys()):
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _basic_bad(authorization: str) -> bool:
    """HTTP Basic credentials whose decoded user or password (percent-decoded as OAuth does) hold one."""
    scheme, _sep, credentials = authorization.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(credentials.strip(), validate=False)
    except (binascii.Error, ValueError):
        return False  # not Basic credentials at all: the endpoint refuses them itself
    if b"\x00" in decoded:
        return True
    text = decoded.decode("utf-8", "replace")
    return _bad(unquote(text))


def _body_bad(request: HttpRequest) -> bool:
    if request.content_type == "multipart/form-data":
        if request.method != "POST":
            return False
        # Parsed as Django would for the view (and as CSRF's check does anyway); a parse error
        # propagates and is Django's 400.
        files = request.FILES
        return _query_bad(request.POST) or any(
            _bad(name) or _any_bad(f.name or "" for f in uploads) for name, uploads in files.lists()
        )
    try:
        body = request.body
    except RequestDataTooBig:
        return False  # refused by the view's own handling (the API's 413, Django's 400)
    if not body:
        return False
    if b"\x00" in body:
        return True
    if request.content_type == "application/x-www-form-urlencoded":
        form = request.POST if request.method == "POST" else QueryDict(body, encoding=request.encoding)
        return _query_bad(form)
    if (request.content_type or "").endswith(("/json", "+json")):
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            return False  # malformed JSON: the endpoint answers it
        return _json_bad(document)
    return False


def refused_part(request: HttpRequest) -> str:
    """Which part of the request holds a forbidden character ("" if none)."""
    if _bad(request.path) or _bad(request.path_info):
        return "path"
    if _query_bad(request.GET):
        return "query"
    if _basic_bad(request.META.get("HTTP_AUTHORIZATION", "")):
        return "authorization"
    if any(isinstance(v, str) and _bad(v) for k, v in request.META.items() if k.startswith(("HTTP_", "CONTENT_"))):
        return "header"
    if any(_bad(k) or _bad(v) for k, v in request.COOKIES.items()):
        return "cookie"
    if _body_bad(request):
        return "body"
    return ""


def message() -> str:
    return _(
        "The request contains a character that is not allowed (a NUL byte or invalid text). Remove it and try again."
    )


def bad_request_response(request: HttpRequest) -> HttpResponse:
    """The 400 for a refused request, in the caller's language and the form its caller reads."""
    language = translation.get_language_from_request(request, check_path=True)
    path = request.path_info
    with translation.override(language):
        text = message()
        if path.startswith(("/api/", "/.well-known/")) or (
            path.startswith("/oauth/") and not path.startswith(BROWSER_OAUTH_PATHS)
        ):
            response: HttpResponse = JsonResponse({"error": "invalid_request", "error_description": text}, status=400)
            # RFC 6749 §5.1/5.2: OAuth answers are not cached.
            response["Cache-Control"] = "no-store"
            response["Pragma"] = "no-cache"
        else:
            # Rendered without the request: no context processor reads the refused path or a session.
            response = HttpResponse(render_to_string("bad_request.html", {"message": text}), status=400)
    response["Content-Language"] = language
    return response


class NulByteMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        part = refused_part(request)
        if part:
            logger.warning(
                "request refused: a forbidden character in its %s (%s %r)", part, request.method, request.path[:200]
            )
            return bad_request_response(request)
        return self.get_response(request)
