"""Step 6: add a user by INSZ ("Een gebruiker aanmaken") and look at one user ("Bekijken")."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from toegang.accounts.models import Activation, User
from toegang.applications.selectors import person_applications, switched_on_applications
from toegang.audit.actions import Reason
from toegang.audit.rendering import render_events
from toegang.delegation import authz, selectors
from toegang.delegation.models import Role, RoleAssignment
from toegang.delegation.services import (
    CORRECTABLE,
    AlreadyMember,
    activation_send,
    identity_confirmed_error,
    last_day_of,
    max_last_day,
    membership_end,
    membership_last_day_set,
    membership_update,
    person_correct,
    subdepartment_user_add,
)
from toegang.history import EXPIRED
from toegang.identifiers import ssin_format
from toegang.organisations.models import Subdepartment
from toegang.portal.common import crumbs, request_actor
from toegang.portal.forms import (
    AccessAgainForm,
    EndRoleForm,
    LastDayForm,
    MembershipForm,
    PersonCorrectForm,
    SsinLookupForm,
    UserCreateForm,
    apply_errors,
    title_suggested,
)

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
    suggestion = None if known else title_suggested(ssin)
    if suggestion is not None:
        initial["title"] = suggestion  # pre-selected, never forced: the field stays free
    offered = switched_on_applications(sd)
    # The quality's maximum, if it has one: the last day the form proposes and the latest it accepts.
    ceiling = max_last_day(sd.enterprise_quality_id, timezone.localdate())
    if request.method == "POST" and request.POST.get("action") == "save":
        form = UserCreateForm(
            request.POST,
            offered=offered,
            known=known,
            initial=initial,
            title_suggestion=suggestion is not None,
            ceiling=ceiling,
        )
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
                    last_day=d["last_day"],
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
        form = UserCreateForm(
            offered=offered, known=known, initial=initial, title_suggestion=suggestion is not None, ceiling=ceiling
        )
    return render(request, "portal/users/add.html", {**context, "form": form, "known": known, "ssin": ssin})


@login_required
@require_http_methods(["GET", "POST"])
def user_detail(request: HttpRequest, pk: int, membership_pk: int) -> HttpResponse:
    actor = request_actor(request)
    sd = selectors.subdepartment_for_actor(actor, pk)
    membership = selectors.membership_or_ended_for_actor(actor, sd, membership_pk)
    if not membership.is_active():
        authz.require(request.method == "GET")
        return _ended_page(request, actor, sd, membership, None)
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
    return render(
        request,
        "portal/users/detail.html",
        {
            **_person_context(actor, sd, membership),
            "applications": current,
            "form": form,
            "may_change": may_change,
            "login_state": _login_state(membership),
            "last_day": last_day_of(membership.valid_until),
            "last_day_form": LastDayForm(initial={"last_day": last_day_of(membership.valid_until)})
            if may_change
            else None,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def user_last_day(request: HttpRequest, pk: int, membership_pk: int) -> HttpResponse:
    """Extend or shorten one user's planned end (the bulk action's rule for one row), with a reason."""
    actor = request_actor(request)
    sd = selectors.subdepartment_for_actor(actor, pk)
    membership = selectors.membership_or_ended_for_actor(actor, sd, membership_pk)
    detail = reverse("portal:user_detail", args=[sd.pk, membership.pk])
    if request.method == "GET":
        return redirect(detail)
    authz.require(authz.may_appoint(actor, membership.role, membership))
    form = LastDayForm(request.POST)
    if form.is_valid():
        try:
            changed = membership_last_day_set(
                actor=actor,
                membership=membership,
                last_day=form.cleaned_data["last_day"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            if not hasattr(exc, "error_dict"):  # ended meanwhile: said on the page it now shows
                messages.error(request, " ".join(exc.messages))
                return redirect(detail)
            apply_errors(form, exc)
        else:
            messages.success(
                request,
                _("%(person)s's last day here is now %(day)s.")
                % {"person": changed.person, "day": f"{last_day_of(changed.valid_until):%d/%m/%Y}"},
            )
            return redirect(detail)
    if not membership.is_active():
        messages.error(request, _("This assignment has already ended."))
        return redirect(detail)
    current = person_applications(membership.person, sd)
    return render(
        request,
        "portal/users/detail.html",
        {
            **_person_context(actor, sd, membership),
            "applications": current,
            "form": MembershipForm(
                initial={
                    "email": membership.contact_email or membership.person.email,
                    "local_email": membership.contact_local_email,
                    "status": membership.status,
                    "applications": current,
                },
                offered=switched_on_applications(sd),
            ),
            "may_change": True,
            "login_state": _login_state(membership),
            "last_day": last_day_of(membership.valid_until),
            "last_day_form": form,
        },
    )


def _person_context(actor: User, sd: Subdepartment, membership: RoleAssignment) -> dict[str, Any]:
    """What the user's page and the ended user's page share: the person, whether their data may be
    corrected (or why not), and their history in this subdepartment."""
    person = membership.person
    history = history_url = None
    if authz.may(actor, authz.Action.AUDIT_VIEW, sd):
        history = render_events(selectors.person_audit_events_for_actor(actor, sd, person)[:PERSON_EVENTS])
        whom = urlencode({"whom": person.ssin or person.username})
        history_url = f"{reverse('portal:audit', args=['s', sd.pk])}?{whom}"
    return {
        "sd": sd,
        "m": membership,
        "person": person,
        "identity_confirmed": authz.identity_confirmed(person),
        "may_correct": authz.may_correct_person(actor, person),
        "history": history,
        "history_url": history_url,
        "person_events": PERSON_EVENTS,
        "crumbs": crumbs(sd.enterprise, sd.enterprise_quality, sd),
    }


def _ended_page(
    request: HttpRequest, actor: User, sd: Subdepartment, membership: RoleAssignment, form: AccessAgainForm | None
) -> HttpResponse:
    """The page of a row whose membership ended: when, by whom, why, and "give access again"."""
    current = selectors.current_membership(sd, membership.person)
    may_again = current is None and authz.may_appoint(actor, Role.USER, sd)
    if form is None and may_again:
        initial = {"email": membership.contact_email, "local_email": membership.contact_local_email}
        form = AccessAgainForm(initial=initial, offered=switched_on_applications(sd))
    return render(
        request,
        "portal/users/ended.html",
        {
            **_person_context(actor, sd, membership),
            "ended_at": membership.ended_at or membership.valid_until,
            "ended_by": membership.ended_by,
            "reason": _end_reason(membership.end_reason),
            "current": current,
            "form": form if may_again else None,
        },
    )


def _end_reason(code: str) -> str:
    if code == EXPIRED:
        return _("the last day set for this membership had passed")
    if code in Reason.values:
        return str(Reason(code).label)
    return code


@login_required
@require_http_methods(["POST"])
def user_access_again(request: HttpRequest, pk: int, membership_pk: int) -> HttpResponse:
    """Give an ended user access again: a new membership and the applications ticked (``subdepartment_user_add``)."""
    actor = request_actor(request)
    sd = selectors.subdepartment_for_actor(actor, pk)
    membership = selectors.membership_or_ended_for_actor(actor, sd, membership_pk)
    authz.require(authz.may_appoint(actor, Role.USER, sd))
    person = membership.person
    current = selectors.current_membership(sd, person)
    if membership.is_active() or current is not None:  # a double post, or someone was quicker
        messages.info(request, _("This person is already a user of this subdepartment."))
        return redirect(reverse("portal:user_detail", args=[sd.pk, (current or membership).pk]))
    form = AccessAgainForm(request.POST, offered=switched_on_applications(sd))
    if form.is_valid():
        d = form.cleaned_data
        try:
            new = subdepartment_user_add(
                actor=actor,
                subdepartment=sd,
                ssin=person.ssin or "",
                email=d["email"],
                local_email=d["local_email"],
                applications=d["applications"],
            )
        except AlreadyMember as exc:
            messages.info(request, _("This person is already a user of this subdepartment."))
            return redirect(reverse("portal:user_detail", args=[sd.pk, exc.membership.pk]))
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("%(person)s has access again.") % {"person": person})
            return redirect(reverse("portal:user_detail", args=[sd.pk, new.pk]))
    return _ended_page(request, actor, sd, membership, form)


@login_required
@require_http_methods(["GET", "POST"])
def user_correct(request: HttpRequest, pk: int, membership_pk: int) -> HttpResponse:
    """Correct Naam, Voornaam, Titel and Taalkeuze as a manager typed them, until the identity is confirmed."""
    actor = request_actor(request)
    sd = selectors.subdepartment_for_actor(actor, pk)
    membership = selectors.membership_or_ended_for_actor(actor, sd, membership_pk)
    person = membership.person
    detail = reverse("portal:user_detail", args=[sd.pk, membership.pk])
    if authz.identity_confirmed(person):
        messages.info(request, identity_confirmed_error())
        return redirect(detail)
    authz.require(authz.may_correct_person(actor, person))
    initial = {f: getattr(person, f) for f in CORRECTABLE}
    form = PersonCorrectForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            person_correct(actor=actor, person=person, subdepartment=sd, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("The personal data were corrected."))
            return redirect(detail)
    return render(
        request,
        "portal/users/correct.html",
        {
            "sd": sd,
            "m": membership,
            "person": person,
            "form": form,
            "detail_url": detail,
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
