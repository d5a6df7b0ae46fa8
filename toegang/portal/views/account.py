"""Mijn persoonlijke gegevens wijzigen: the logged-in person's own data.

Shows the person's identity read-only (it comes from the national register) and lets them change
their contact data, language and title through ``accounts.services.person_update_self``. Nothing
about the person's roles or employers is shown here.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from toegang.accounts.assurance import ssin_proven
from toegang.accounts.models import Activation, Language, Title
from toegang.accounts.services import account_claim, person_update_self
from toegang.portal.common import request_actor
from toegang.portal.forms import apply_errors


class PersonalDataForm(forms.Form):
    title = forms.ChoiceField(label=gettext_lazy("Title"), choices=Title.choices)
    language = forms.ChoiceField(label=gettext_lazy("Language"), choices=Language.choices)
    email = forms.EmailField(label=gettext_lazy("E-mail address *"))
    local_email = forms.EmailField(
        label=gettext_lazy("Local e-mail address"),
        required=False,
        help_text=gettext_lazy("This address may be used for your individual contacts with the contact centre."),
    )
    phone = forms.CharField(label=gettext_lazy("Phone"), max_length=30, required=False)


@login_required
@require_http_methods(["GET", "POST"])
def me(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    initial: dict[str, Any] = {f: getattr(actor, f) for f in ("title", "language", "email", "local_email", "phone")}
    form = PersonalDataForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            person_update_self(actor=actor, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Your personal data were saved."))
            return redirect(reverse("portal:me"))
    may_claim = ssin_proven(request) and actor.activation != Activation.PERSON
    return render(request, "portal/account/me.html", {"form": form, "person": actor, "may_claim": may_claim})


class ClaimForm(forms.Form):
    password1 = forms.CharField(
        label=gettext_lazy("New password *"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label=gettext_lazy("New password (again) *"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )


@login_required
@require_http_methods(["GET", "POST"])
def claim(request: HttpRequest) -> HttpResponse:
    """With a login that proved the INSZ (eID, itsme): replace every login method of the account."""
    actor = request_actor(request)
    proven = ssin_proven(request)
    form = ClaimForm(request.POST or None)
    if request.method == "POST" and proven and form.is_valid():
        try:
            person = account_claim(
                actor=actor,
                password=form.cleaned_data["password1"],
                password_again=form.cleaned_data["password2"],
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            update_session_auth_hash(request, person)  # this session stays; the others end
            messages.success(request, _("The account is yours now: your new password is its only login method."))
            return redirect(reverse("portal:me"))
    return render(request, "portal/account/claim.html", {"form": form, "proven": proven}, status=200 if proven else 403)
