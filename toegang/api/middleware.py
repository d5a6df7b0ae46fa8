"""The language of an authorization-API answer, from the Accept-Language header alone.

``/api/`` runs on ``settings.API_MIDDLEWARE`` (toegang/wsgi.py), which has this in the place of Django's
``LocaleMiddleware``. The API's callers are relying parties' back ends: no language cookie (a browser's,
sent along, is not read) and no language prefix in the URL, so looking for both, then for a
prefixed URL to redirect a 404 to, cost a tenth of a check (bench/authz_api.py) for nothing. The choice
itself is Django's (``translation.get_language_from_request`` on the header alone), remembered per
header value; the answer carries ``Content-Language`` and ``Vary: Accept-Language`` as
``LocaleMiddleware`` sets them.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponseBase
from django.utils import translation
from django.utils.cache import patch_vary_headers

# Accept-Language value -> the language chosen; a caller sends the same value every time. Bounded: a
# header that long is still answered, only not remembered.
_MEMORY_SIZE = 256
_MAX_REMEMBERED_HEADER = 200
_languages: dict[str, str] = {}


@receiver(setting_changed, dispatch_uid="api_languages")
def _forget_languages(**kwargs: object) -> None:
    _languages.clear()


def language_of(accept_language: str) -> str:
    """Django's choice of language for a request with this Accept-Language and nothing else."""
    language = _languages.get(accept_language)
    if language is None:
        asked = HttpRequest()  # no cookie, no path
        asked.META["HTTP_ACCEPT_LANGUAGE"] = accept_language
        language = translation.get_language_from_request(asked)
        if len(accept_language) <= _MAX_REMEMBERED_HEADER:
            if len(_languages) >= _MEMORY_SIZE:
                _languages.clear()
            _languages[accept_language] = language
    return language


class AcceptLanguageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        language = language_of(request.META.get("HTTP_ACCEPT_LANGUAGE", ""))
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
        response = self.get_response(request)
        patch_vary_headers(response, ("Accept-Language",))
        response.headers.setdefault("Content-Language", translation.get_language())
        return response
