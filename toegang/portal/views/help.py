"""The Help link: the user guide of docs/guide/<lang>/<role>.md, rendered inside the portal layout.

The guides are markdown files kept beside the code (Dutch first, then French and German); raw HTML
in them is not passed through. Their screenshots, taken in each guide's language by the browser
walk tests/e2e/test_guide_screenshots.py (``make guide-images``), come from docs/guide/img/<lang>/
through ``help_image``, which serves only a plain file name from one of those folders.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as etree
from pathlib import Path
from typing import TYPE_CHECKING

import markdown
from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from markdown.treeprocessors import Treeprocessor

from toegang.delegation.models import Role

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

GUIDE_DIR = Path(settings.BASE_DIR) / "docs" / "guide"
IMAGE_DIR = GUIDE_DIR / "img"
GUIDE_LANGUAGES = ("nl", "fr", "de")
DEFAULT_ROLE = "user"
# slug (the file name) -> the role's label, in the order of the manual's steps
ROLES: dict[str, StrOrPromise] = {
    "legal-representative": Role.LEGAL_REPRESENTATIVE.label,
    "main-access-manager": Role.MAIN_ACCESS_MANAGER.label,
    "access-manager": Role.ACCESS_MANAGER.label,
    "subdepartment-manager": Role.SUBDEPARTMENT_MANAGER.label,
    "user": Role.USER.label,
}
IMAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*\.(png|jpg)$")
# the portal pages (URL names) and whose guide their Help link opens; the rest open the user's
PAGE_ROLES: dict[str, str] = {
    "legal": "legal-representative",
    "enterprise": "main-access-manager",
    "quality": "access-manager",
    **dict.fromkeys(
        (
            "subdepartment",
            "subdepartment_details",
            "subdepartment_affairs",
            "certificates",
            "certificate_replace",
            "certificate_revoke",
            "users",
            "users_bulk",
            "users_import",
            "user_add",
            "user_detail",
            "user_end",
        ),
        "subdepartment-manager",
    ),
}
AUDIT_ROLES: dict[str, str] = {"e": "main-access-manager", "q": "access-manager", "s": "subdepartment-manager"}


def help_role_for(request: HttpRequest) -> str:
    """The guide the Help link of this page opens (a view may still pass its own ``help_role``)."""
    match = request.resolver_match
    if match is None or match.namespace != "portal":
        return DEFAULT_ROLE
    if match.url_name == "help":
        return _role(request.GET.get("role"))
    if match.url_name == "audit":
        return AUDIT_ROLES.get(str(match.kwargs.get("level")), DEFAULT_ROLE)
    return PAGE_ROLES.get(match.url_name or "", DEFAULT_ROLE)


def _role(value: str | None) -> str:
    return str(value) if value is not None and value in ROLES else DEFAULT_ROLE


class _Links(Treeprocessor):
    """Relative links of the files, made to work in the portal: ``../img/<lang>/x.png`` -> the image view,
    ``other-role.md`` -> the Help page of that role."""

    def run(self, root: etree.Element) -> None:
        for img in root.iter("img"):
            src = Path(img.get("src", ""))
            lang, name = src.parent.name, src.name
            if lang in GUIDE_LANGUAGES and IMAGE_NAME.match(name):
                img.set("src", reverse("portal:help_image", args=[lang, name]))
            img.set("loading", "lazy")
        for a in root.iter("a"):
            href = a.get("href", "")
            slug = href.removesuffix(".md").rsplit("/", 1)[-1]
            if href.endswith(".md") and slug in ROLES:
                a.set("href", f"{reverse('portal:help')}?role={slug}")
            elif not href.startswith(("https://", "http://", "#", "mailto:", "tel:")):
                a.set("href", "#")


def render_guide(text: str) -> str:
    md = markdown.Markdown(extensions=["tables", "sane_lists"], output_format="html")
    # Raw HTML is escaped, not passed through: the guides are markdown only.
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    md.treeprocessors.register(_Links(md), "toegang_links", 1)
    return md.convert(text)


def guide_language() -> str:
    lang = (get_language() or "nl").split("-")[0]
    return lang if lang in GUIDE_LANGUAGES else "nl"


def help_page(request: HttpRequest) -> HttpResponse:
    role = _role(request.GET.get("role"))
    lang = guide_language()
    text = (GUIDE_DIR / lang / f"{role}.md").read_text(encoding="utf-8")
    roles = [(slug, label, f"{reverse('portal:help')}?role={slug}") for slug, label in ROLES.items()]
    return render(
        request,
        "portal/help.html",
        {
            "guide": mark_safe(render_guide(text)),  # noqa: S308 - our own files, raw HTML disabled
            "guide_lang": lang,
            "role": role,
            "roles": roles,
            "help_role": role,
        },
    )


def help_image(request: HttpRequest, lang: str, name: str) -> FileResponse:
    """A screenshot of the guide in ``lang``: a plain file name, from docs/guide/img/<lang> only."""
    if lang not in GUIDE_LANGUAGES or not IMAGE_NAME.match(name):
        raise Http404
    folder = (IMAGE_DIR / lang).resolve()
    path = (folder / name).resolve()
    if path.parent != folder or not path.is_file():
        raise Http404
    response = FileResponse(path.open("rb"), content_type="image/png" if name.endswith(".png") else "image/jpeg")
    response["Cache-Control"] = "public, max-age=3600"
    return response
