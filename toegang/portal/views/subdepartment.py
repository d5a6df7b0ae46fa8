"""The subdepartment's screens (manual, step 6: "u hebt toegang als Subafdelingsbeheerder …").

- ``home``: the manual's welcome page with its two menus, nothing else.
- ``details``: "De details van de subafdeling raadplegen".
- ``affairs``: "Subafdelingszaken", the management page: switched-on applications (and the switch
  for TBs and HTBs), the subdepartment's managers (appoint, end), users per application, the recent
  audit events. These forms used to be on the home page; a POST to the home is still handled as on
  this page, so that the home URL's actions (``action=applications``, ``action=appoint``) keep working.
- ``certificates``: "Beheer van het certificaat": upload, replace, revoke.

Views are transports: the subdepartment comes from a scoped selector (404 outside the actor's
scope), every decision from ``delegation.authz`` (403), every change from a service.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from toegang.accounts.models import User
from toegang.applications.selectors import (
    all_applications,
    application_use,
    offered_applications,
    subdepartment_applications,
)
from toegang.applications.services import subdepartment_applications_set
from toegang.audit.rendering import render_events
from toegang.delegation import authz, selectors
from toegang.delegation.models import Role
from toegang.organisations import selectors as org_selectors
from toegang.organisations.models import Subdepartment
from toegang.organisations.services import (
    CERTIFICATE_MAX_BYTES,
    CERTIFICATE_SIGNATURE_MAX_CHARS,
    certificate_challenge,
    certificate_challenge_valid,
    certificate_replace,
    certificate_revoke,
    certificate_upload,
)
from toegang.portal.common import appointable, crumbs, handle_appoint, holders, request_actor
from toegang.portal.forms import ApplicationsForm, EndRoleForm, apply_errors

RECENT_EVENTS = 20
MANAGER_ROLES = (Role.SUBDEPARTMENT_MANAGER, Role.CO_SUBDEPARTMENT_MANAGER)


def _subdepartment(request: HttpRequest, pk: int) -> tuple[User, Subdepartment]:
    actor = request_actor(request)
    sd = selectors.subdepartment_for_actor(actor, pk)
    authz.require(authz.may(actor, authz.Action.SUBDEPARTMENT_VIEW, sd))
    return actor, sd


def _context(sd: Subdepartment, **extra: Any) -> dict[str, Any]:
    return {"sd": sd, "enterprise": sd.enterprise, "crumbs": crumbs(sd.enterprise, sd.enterprise_quality, sd), **extra}


def _my_role(actor: User, sd: Subdepartment) -> str:
    """The role named in the welcome line: the actor's highest role covering the subdepartment."""
    role = authz.highest_role(actor, sd)
    return role.get_role_display() if role is not None else _("Platform operator")


@login_required
def home(request: HttpRequest, pk: int) -> HttpResponse:
    """Beginpagina: who you are here, the subdepartment's identification, the two menus."""
    if request.method == "POST":
        return affairs(request, pk)
    actor, sd = _subdepartment(request, pk)
    return render(
        request,
        "portal/subdepartment.html",
        _context(
            sd,
            my_role=_my_role(actor, sd),
            may_certificates=authz.may(actor, authz.Action.SUBDEPARTMENT_CERTIFICATES, sd),
            quality_home=authz.may(actor, authz.Action.QUALITY_VIEW, sd.enterprise_quality),
        ),
    )


@login_required
def details(request: HttpRequest, pk: int) -> HttpResponse:
    """De details van de subafdeling raadplegen: its identification, origin and applications."""
    sd = _subdepartment(request, pk)[1]
    return render(
        request,
        "portal/subdepartment/details.html",
        _context(sd, quality=sd.quality, creator=sd.granted_by, applications=application_use(sd)),
    )


@login_required
@require_http_methods(["GET", "POST"])
def affairs(request: HttpRequest, pk: int) -> HttpResponse:
    """Subafdelingszaken: applications, managers, users per application, recent audit events."""
    actor, sd = _subdepartment(request, pk)
    here = reverse("portal:subdepartment_affairs", args=[sd.pk])
    posted = request.POST.get("action") if request.method == "POST" else None
    apps_form: ApplicationsForm | None = None
    if authz.may(actor, authz.Action.SUBDEPARTMENT_APPLICATIONS, sd):
        offered = offered_applications(sd.quality)
        apps_form = ApplicationsForm(
            offered=offered, prefix="apps", initial={"applications": subdepartment_applications(sd)}
        )
        if posted == "applications":
            # Bound to every application, so that one the quality does not offer reaches the service,
            # which refuses it by name instead of the form's anonymous "not a valid choice".
            apps_form = ApplicationsForm(request.POST, offered=all_applications(), prefix="apps")
            if apps_form.is_valid():
                try:
                    subdepartment_applications_set(
                        actor=actor, subdepartment=sd, applications=apps_form.cleaned_data["applications"]
                    )
                except ValidationError as exc:
                    apply_errors(apps_form, exc)
                else:
                    messages.success(request, _("The applications of the subdepartment were saved."))
                    return redirect(here)
    else:
        # A crafted POST from someone without the switch gets an explicit denial
        # (docs/architecture.md, Permission rules 8).
        authz.require(posted != "applications")
    form, done = handle_appoint(request, sd, appointable(actor, sd, MANAGER_ROLES))
    if done:
        return redirect(here)
    events = None
    if authz.may(actor, authz.Action.AUDIT_VIEW, sd):
        events = render_events(selectors.audit_events_for_actor(actor, sd)[:RECENT_EVENTS])
    counts = selectors.membership_counts(sd)
    return render(
        request,
        "portal/subdepartment/affairs.html",
        _context(
            sd,
            applications=application_use(sd),
            apps_form=apps_form,
            form=form,
            holders=holders(actor, sd, MANAGER_ROLES),
            counts={
                "sb": counts.get(Role.SUBDEPARTMENT_MANAGER, 0),
                "cosb": counts.get(Role.CO_SUBDEPARTMENT_MANAGER, 0),
                "users": counts.get(Role.USER, 0),
            },
            events=events,
            recent=RECENT_EVENTS,
        ),
    )


# --- Certificates ---------------------------------------------------------------------------------


class CertificateForm(forms.Form):
    """A PEM or DER file, or PEM text pasted; what it must contain is the service's to decide."""

    file = forms.FileField(
        label=gettext_lazy("Certificate file"),
        required=False,
        help_text=gettext_lazy("PEM (.pem, .crt, .cer) or DER, at most 64 KiB; the certificate only, no private key."),
    )
    text = forms.CharField(
        label=gettext_lazy("Or paste the certificate (PEM)"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 70, "spellcheck": "false"}),
        help_text=gettext_lazy("From -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----."),
    )
    signature = forms.CharField(
        label=gettext_lazy("Signature of the text above (base64)"),
        required=False,
        max_length=CERTIFICATE_SIGNATURE_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 70, "spellcheck": "false", "autocomplete": "off"}),
        help_text=gettext_lazy("Made with the private key of this certificate, as the command above shows."),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        upload = cleaned.get("file")
        text = cleaned.get("text") or ""
        if upload and text.strip():
            raise ValidationError(_("Choose a file or paste a certificate, not both."))
        # Read one byte more than allowed: the service then refuses a larger file without it ever
        # being read into memory whole.
        cleaned["data"] = upload.read(CERTIFICATE_MAX_BYTES + 1) if upload else text.encode("utf-8")
        return cleaned


def _certificate_page(
    request: HttpRequest, actor: User, sd: Subdepartment, form: CertificateForm, **extra: Any
) -> HttpResponse:
    return render(
        request,
        "portal/subdepartment/certificates.html",
        _context(
            sd,
            form=form,
            certificates=org_selectors.certificates_for_actor(actor, sd),
            challenge=_challenge(request, sd),
            **extra,
        ),
    )


def _challenge(request: HttpRequest, sd: Subdepartment) -> str:
    """The text to sign (proof of possession): the one posted while it is valid, so a refused
    upload can be corrected without signing again; otherwise a new one."""
    posted = request.POST.get("challenge", "")
    return posted if certificate_challenge_valid(sd, posted) else certificate_challenge(sd)


def _proof(request: HttpRequest, form: CertificateForm) -> dict[str, str]:
    return {"challenge": request.POST.get("challenge", ""), "signature": form.cleaned_data.get("signature") or ""}


@login_required
@require_http_methods(["GET", "POST"])
def certificates(request: HttpRequest, pk: int) -> HttpResponse:
    """Beheer van het certificaat: the subdepartment's certificates and the upload form."""
    actor, sd = _subdepartment(request, pk)
    authz.require(authz.may(actor, authz.Action.SUBDEPARTMENT_CERTIFICATES, sd))
    form = CertificateForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            c = certificate_upload(
                actor=actor, subdepartment=sd, data=form.cleaned_data["data"], **_proof(request, form)
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("The certificate %(subject)s was registered.") % {"subject": c.subject})
            return redirect(reverse("portal:certificates", args=[sd.pk]))
    return _certificate_page(request, actor, sd, form)


@login_required
@require_http_methods(["GET", "POST"])
def certificate_replace_view(request: HttpRequest, pk: int, certificate_pk: int) -> HttpResponse:
    actor, sd = _subdepartment(request, pk)
    old = org_selectors.certificate_for_actor(actor, sd, certificate_pk)
    form = CertificateForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            c = certificate_replace(
                actor=actor, certificate=old, data=form.cleaned_data["data"], **_proof(request, form)
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(
                request,
                _("The certificate %(old)s was replaced by %(new)s.") % {"old": old.subject, "new": c.subject},
            )
            return redirect(reverse("portal:certificates", args=[sd.pk]))
    return render(
        request,
        "portal/subdepartment/certificate_change.html",
        _context(sd, certificate=old, form=form, replace=True, challenge=_challenge(request, sd)),
    )


@login_required
@require_http_methods(["GET", "POST"])
def certificate_revoke_view(request: HttpRequest, pk: int, certificate_pk: int) -> HttpResponse:
    actor, sd = _subdepartment(request, pk)
    c = org_selectors.certificate_for_actor(actor, sd, certificate_pk)
    form = EndRoleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            certificate_revoke(actor=actor, certificate=c, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("The certificate %(subject)s was revoked.") % {"subject": c.subject})
            return redirect(reverse("portal:certificates", args=[sd.pk]))
    return render(
        request,
        "portal/subdepartment/certificate_change.html",
        _context(sd, certificate=c, form=form, replace=False),
    )
