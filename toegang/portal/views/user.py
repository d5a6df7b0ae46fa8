"""Step 6: add a user by INSZ ("Een gebruiker aanmaken") and look at one user ("Bekijken")."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from toegang.accounts.models import Activation
from toegang.applications.selectors import person_applications, switched_on_applications
from toegang.audit.rendering import render_events
from toegang.delegation import authz, selectors
from toegang.delegation.models import Role, RoleAssignment
from toegang.delegation.services import (
    AlreadyMember,
    activation_send,
    membership_end,
    membership_update,
    subdepartment_user_add,
)
from toegang.identifiers import ssin_format
from toegang.portal.common import crumbs, request_actor
from toegang.portal.forms import EndRoleForm, MembershipForm, SsinLookupForm, UserCreateForm, apply_errors

# The user page shows this many of the person's events here; the rest are on the filtered trail.
PERSON_EVENTS = 20


@login_required
@require_http_methods(["GET", "POST"])
def user_add(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    sd = selectors.subdepartment_for_actor(actor, pk)
    authz.require(authz.may_appoint(actor, Role.USER, sd))
    context = {"sd": sd, "crumbs": crumbs(sd.enterprise, sd.enterprise_quality, sd)}
    lookup = SsinLookupForm(request.POST or request.GET)
    if not lookup.is_valid():
        return render(request, "portal/users/lookup.html", {**context, "form": lookup})
    ssin = lookup.cleaned_data["ssin"]
    person, member = selectors.person_to_add(actor, sd, ssin)
    if member is not None:
        messages.info(request, _("This person is already a user of this subdepartment."))
        return redirect(reverse("portal:user_detail", args=[sd.pk, member.pk]))
    known = person is not None
    # What may be shown of a person known elsewhere: their identity, never their other memberships.
    initial = {"ssin": ssin_format(ssin)}
    if person is not None:
        initial |= {
            "username": person.username,
            "last_name": person.last_name,
            "first_name": person.first_name,
            "title": person.title,
            "language": person.language,
        }
    offered = switched_on_applications(sd)
    if request.method == "POST" and request.POST.get("action") == "save":
        form = UserCreateForm(request.POST, offered=offered, known=known, initial=initial)
        if form.is_valid():
            d = form.cleaned_data
            try:
                subdepartment_user_add(
                    actor=actor,
                    subdepartment=sd,
                    ssin=ssin,
                    email=d["email"],
                    local_email=d["local_email"],
                    applications=d["applications"],
                    first_name=d["first_name"],
                    last_name=d["last_name"],
                    title=d["title"],
                    language=d["language"],
                    username=d["username"],
                )
            except AlreadyMember as exc:
                messages.info(request, _("This person is already a user of this subdepartment."))
                return redirect(reverse("portal:user_detail", args=[sd.pk, exc.membership.pk]))
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                # The manual: "De gegevens van de gebruiker werden opgeslagen", back to the list.
                messages.success(request, _("The user's data were saved"))
                return redirect(reverse("portal:users", args=[sd.pk]))
    else:
        form = UserCreateForm(offered=offered, known=known, initial=initial)
    return render(request, "portal/users/add.html", {**context, "form": form, "known": known, "ssin": ssin})


@login_required
@require_http_methods(["GET", "POST"])
def user_detail(request: HttpRequest, pk: int, membership_pk: int) -> HttpResponse:
    actor = request_actor(request)
    sd = selectors.subdepartment_for_actor(actor, pk)
    membership = selectors.membership_for_actor(actor, sd, membership_pk)
    may_change = authz.may_appoint(actor, membership.role, membership)
    current = person_applications(membership.person, sd)
    offered = switched_on_applications(sd)
    initial = {
        "email": membership.contact_email or membership.person.email,
        "local_email": membership.contact_local_email,
        "status": membership.status,
        "applications": current,
    }
    form = MembershipForm(initial=initial, offered=offered) if may_change else None
    if request.method == "POST":
        authz.require(may_change)
        form = MembershipForm(request.POST, initial=initial, offered=offered)
        if form.is_valid():
            d = form.cleaned_data
            try:
                membership_update(
                    actor=actor,
                    membership=membership,
                    applications=d["applications"],
                    status=d["status"],
                    email=d["email"],
                    local_email=d["local_email"],
                )
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, _("The user's data were saved"))
                return redirect(request.path)
    history = history_url = None
    if authz.may(actor, authz.Action.AUDIT_VIEW, sd):
        person = membership.person
        history = render_events(selectors.person_audit_events_for_actor(actor, sd, person)[:PERSON_EVENTS])
        whom = urlencode({"whom": person.ssin or person.username})
        history_url = f"{reverse('portal:audit', args=['s', sd.pk])}?{whom}"
    return render(
        request,
        "portal/users/detail.html",
        {
            "sd": sd,
            "m": membership,
            "person": membership.person,
            "applications": current,
            "form": form,
            "may_change": may_change,
            "login_state": _login_state(membership),
            "history": history,
            "history_url": history_url,
            "person_events": PERSON_EVENTS,
            "crumbs": crumbs(sd.enterprise, sd.enterprise_quality, sd),
        },
    )


@login_required
@require_http_methods(["POST"])
def user_activation(request: HttpRequest, pk: int, membership_pk: int) -> HttpResponse:
    """Send the membership's e-mail again, with a fresh activation link."""
    actor = request_actor(request)
    sd = selectors.subdepartment_for_actor(actor, pk)
    membership = selectors.membership_for_actor(actor, sd, membership_pk)
    if activation_send(actor=actor, assignment=membership):
        messages.success(request, _("The activation link was sent to %(email)s.") % {"email": membership.contact_email})
    else:
        messages.info(request, _("This person needs no activation link: the account is activated."))
    return redirect(reverse("portal:user_detail", args=[sd.pk, membership.pk]))


@login_required
@require_http_methods(["GET", "POST"])
def user_end(request: HttpRequest, pk: int, membership_pk: int) -> HttpResponse:
    actor = request_actor(request)
    sd = selectors.subdepartment_for_actor(actor, pk)
    membership = selectors.membership_for_actor(actor, sd, membership_pk)
    authz.require(authz.may_end(actor, membership))
    form = EndRoleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            membership_end(actor=actor, membership=membership, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(
                request, _("%(person)s is no longer a user of this subdepartment.") % {"person": membership.person}
            )
            return redirect(reverse("portal:users", args=[sd.pk]))
    return render(
        request,
        "portal/users/end.html",
        {"sd": sd, "m": membership, "form": form, "crumbs": crumbs(sd.enterprise, sd.enterprise_quality, sd)},
    )


def _login_state(membership: RoleAssignment) -> str:
    """What the manager reads about the person's way in (docs/security.md, the identity model)."""
    person = membership.person
    if person.activation == Activation.NONE:
        return "none"
    if person.activation == Activation.PERSON or membership.confirmed_at is not None:
        return "active"
    return "waiting"
