"""The activation link of an appointment (``delegation.activation``): choose a password, or confirm.

Reached without a login (the person has none yet). What the page offers depends on the account:
never activated, a password form; activated, a confirmation by its logged-in holder; anything
else, the reason the link cannot be used, without naming anyone.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from toegang.delegation.activation import (
    ActivationLinkInvalid,
    account_activate,
    activation_read,
    assignment_confirm,
)
from toegang.portal.forms import apply_errors


class ActivationForm(forms.Form):
    password1 = forms.CharField(
        label=gettext_lazy("Password *"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label=gettext_lazy("Password (again) *"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )


@require_http_methods(["GET", "POST"])
def activate(request: HttpRequest, token: str) -> HttpResponse:
    try:
        link = activation_read(token)
    except ActivationLinkInvalid as exc:
        return render(request, "portal/activate.html", {"error": exc.message}, status=400)
    context: dict[str, object] = {"link": link, "assignment": link.assignment, "person": link.person}
    user = request.user
    other = user.is_authenticated and user.pk != link.person.pk
    if other:
        context["other_person"] = True
        return render(request, "portal/activate.html", context, status=403)
    if link.activated:
        if not user.is_authenticated:
            # Log in to the account first, by any of its methods, and come back here.
            return redirect_to_login(request.get_full_path())
        if request.method == "POST":
            try:
                assignment_confirm(actor=user, token=token)
            except (ActivationLinkInvalid, PermissionDenied):
                return render(request, "portal/activate.html", {"error": _invalid_message()}, status=400)
            messages.success(request, _("Your appointment is confirmed. You can use it from now on."))
            return redirect("portal:home")
        return render(request, "portal/activate.html", {**context, "confirm": True})
    form = ActivationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            person = account_activate(
                token=token,
                password=form.cleaned_data["password1"],
                password_again=form.cleaned_data["password2"],
            )
        except ActivationLinkInvalid as exc:
            return render(request, "portal/activate.html", {"error": exc.message}, status=400)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(
                request,
                _("Your account is activated. Log in with your username %(username)s and your new password.")
                % {"username": person.username},
            )
            return redirect("account_login")
    return render(request, "portal/activate.html", {**context, "form": form})


def _invalid_message() -> str:
    return _("This activation link cannot be used. Log in as usual, or with eID.")
