"""Forms of the portal: they validate input shape; the rules live in the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils.html import format_html
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from toegang import identifiers
from toegang.accounts.models import Language, Title
from toegang.applications.models import SecuredApplication
from toegang.delegation.models import Role, Status
from toegang.organisations.models import IdentificationScheme, Quality


class SsinField(forms.CharField):
    """INSZ in any formatting (dots, dashes, spaces); cleaned to 11 digits with check digits verified."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", _("INSZ"))
        kwargs.setdefault("max_length", 20)
        kwargs.setdefault("help_text", _("National register number or BIS number, e.g. 85.07.30-033.28"))
        super().__init__(**kwargs)

    def clean(self, value: Any) -> str:
        value = super().clean(value)
        return identifiers.ssin_clean(value) if value else value


class CbeField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", _("Enterprise number"))
        kwargs.setdefault("max_length", 20)
        kwargs.setdefault("help_text", _("10 digits, e.g. 0403.170.701"))
        super().__init__(**kwargs)

    def clean(self, value: Any) -> str:
        value = super().clean(value)
        return identifiers.cbe_clean(value) if value else value


# Formats shown before any error does (GOV.UK's hint text).
EMAIL_HINT = _("For example name@facility.be")
IDENTIFICATION_HINTS = {
    IdentificationScheme.NIHII: _("RIZIV number: 8 or 11 digits, for example 7-10000-40-345."),
    IdentificationScheme.DIGITS: _("Digits only, at most 20."),
}


def last_day_field(*, required: bool = False) -> forms.DateField:
    """A planned end as a manager types it: the last day of the access, inclusive, Brussels time."""
    return forms.DateField(
        label=_("Last day"),
        required=required,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("The access ends at midnight after this day (Brussels time)."),
    )


class AppointForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"))
    ssin = SsinField()
    email = forms.EmailField(label=_("E-mail address"), help_text=EMAIL_HINT)
    phone = forms.CharField(label=_("Phone"), max_length=30, required=False)
    first_name = forms.CharField(
        label=_("First name"), max_length=150, required=False, help_text=_("Only for a person not yet known.")
    )
    last_name = forms.CharField(
        label=_("Last name"), max_length=150, required=False, help_text=_("Only for a person not yet known.")
    )
    last_day = last_day_field()

    def __init__(self, *args: Any, roles: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        labels = dict(Role.choices)
        field = self.fields["role"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(r, labels[r]) for r in roles]
        field.initial = roles[0]


class EndRoleForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)


class QualityActivateForm(forms.Form):
    quality = forms.ModelChoiceField(label=_("Quality"), queryset=Quality.objects.none())

    def __init__(self, *args: Any, qualities: QuerySet[Quality], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["quality"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = qualities
        field.label_from_instance = lambda obj: obj.name  # type: ignore[method-assign]


class ApplicationsField(forms.ModelMultipleChoiceField):  # type: ignore[type-arg]
    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, obj: Any) -> str:
        # As the manual shows them: the name, its description below in italics (site.css), once
        # when the description only repeats the name ("E-loket Zorg en Gezondheid").
        name = format_html('<span class="app-name">{}</span>', obj.name)
        if not obj.description or obj.description.strip() == obj.name.strip():
            return name
        return format_html('{} <span class="app-description">{}</span>', name, obj.description)


class ApplicationsForm(forms.Form):
    applications = ApplicationsField(
        label=_("Secured applications"), queryset=SecuredApplication.objects.none(), required=False
    )

    def __init__(self, *args: Any, offered: QuerySet[SecuredApplication], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["applications"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = offered


class SubdepartmentForm(ApplicationsForm):
    name = forms.CharField(label=_("Name"), max_length=200)
    identification_code = forms.CharField(label=_("Identification code"), max_length=40)
    field_order = ["name", "identification_code", "applications"]

    def __init__(self, *args: Any, scheme: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["identification_code"].help_text = IDENTIFICATION_HINTS.get(scheme, "")  # type: ignore[call-overload]


class EnterpriseRegisterForm(forms.Form):
    cbe_number = CbeField()
    name = forms.CharField(label=_("Name"), max_length=200)
    ssin = SsinField(label=_("INSZ of the legal representative"))
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_("E-mail address"), help_text=EMAIL_HINT)


def apply_errors(form: forms.Form, exc: ValidationError) -> None:
    """Attach a service's ValidationError to the form: to its field when the form has one."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


class SsinLookupForm(forms.Form):
    """The footer of the users list: "Een gebruiker toevoegen — INSZ: [ ] — Volgende"."""

    ssin = SsinField()


def mark_required(form: forms.Form) -> None:
    """Append "*" to the label of every field the person must fill in (the page's legend says what * means).

    Not to a disabled or read-only field: nothing to fill in there. A label that carries its * in its
    text already (the e-mail address's) is left as it is.
    """
    for field in form.fields.values():
        if not field.required or field.disabled or field.widget.attrs.get("readonly"):
            continue
        label = str(field.label or "")
        if not label.rstrip().endswith("*"):
            field.label = f"{label} *"


def title_suggested(ssin: str) -> str | None:
    """The title the INSZ suggests (odd sequence number: a man, even: a woman), None where it says nothing.

    Only a pre-selected suggestion on the add-user form: what a person is called is theirs to say.
    """
    sex = identifiers.ssin_sex(ssin)
    return {"M": Title.MR, "F": Title.MS}.get(sex or "")


class UserCreateForm(ApplicationsForm):
    """The manual's "Een gebruiker aanmaken"; names are read-only for a person already known."""

    username = forms.CharField(
        label=_("Username"), max_length=150, required=False, help_text=_("Leave empty to have one made up.")
    )
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    title = forms.ChoiceField(label=_("Title"), choices=Title.choices, initial=Title.MR)
    ssin = SsinField(widget=forms.TextInput(attrs={"readonly": True}))
    language = forms.ChoiceField(label=_("Language"), choices=Language.choices, initial=Language.NL)
    email = forms.EmailField(label=_("E-mail address *"), help_text=EMAIL_HINT)
    local_email = forms.EmailField(
        label=_("Local e-mail address"),
        required=False,
        help_text=_("This address may be used for your individual contacts with the contact centre."),
    )
    last_day = last_day_field()
    field_order = [
        "username", "last_name", "first_name", "title", "ssin", "language", "email", "local_email", "last_day"
    ]  # fmt: skip

    def __init__(
        self, *args: Any, known: bool = False, title_suggestion: bool = False, ceiling: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if ceiling is not None:
            # The quality's maximum: the default, and the latest day the service accepts.
            self.fields["last_day"].initial = ceiling
            self.fields["last_day"].required = True
            self.fields["last_day"].help_text = _(
                "The access ends at midnight after this day (Brussels time); this quality allows at most %(day)s."
            ) % {"day": f"{ceiling:%d/%m/%Y}"}
        # A new person's Taalkeuze starts as the language the manager works in (a French-speaking
        # facility adds French-speaking staff), not always Dutch; the manager may still change it.
        current = (get_language() or "")[:2]
        self.fields["language"].initial = current if current in Language.values else Language.NL
        if known:
            # The person exists (works elsewhere too): their identity is not ours to change here.
            for name in ("username", "last_name", "first_name", "title", "language"):
                self.fields[name].disabled = True
                self.fields[name].help_text = ""
        else:
            # A new INSZ: the names are required (the service says so too, in the same words).
            self.fields["last_name"].required = True
            self.fields["last_name"].error_messages["required"] = _("This INSZ is not known yet: enter the last name.")
            self.fields["first_name"].required = True
            self.fields["first_name"].error_messages["required"] = _(
                "This INSZ is not known yet: enter the first name."
            )
            if title_suggestion:
                self.fields["title"].help_text = _(
                    "Suggested from the INSZ; change it if the person is called otherwise."
                )
        mark_required(self)


class MembershipForm(ApplicationsForm):
    """Bekijken: what the manager of the subdepartment changes for one user here."""

    email = forms.EmailField(label=_("E-mail address *"))
    local_email = forms.EmailField(label=_("Local e-mail address"), required=False)
    status = forms.ChoiceField(label=_("Status"), choices=Status.choices)
    field_order = ["email", "local_email", "status", "applications"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        mark_required(self)


class PersonCorrectForm(forms.Form):
    """Naam, Voornaam, Titel and Taalkeuze as a manager typed them, corrected until the identity is confirmed."""

    last_name = forms.CharField(label=_("Last name"), max_length=150)
    first_name = forms.CharField(label=_("First name"), max_length=150)
    title = forms.ChoiceField(label=_("Title"), choices=Title.choices)
    language = forms.ChoiceField(label=_("Language"), choices=Language.choices)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        mark_required(self)


class AccessAgainForm(ApplicationsForm):
    """The ended user's page: "give access again", a new membership with the applications ticked."""

    email = forms.EmailField(label=_("E-mail address *"))
    local_email = forms.EmailField(label=_("Local e-mail address"), required=False)
    field_order = ["email", "local_email", "applications"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        mark_required(self)


class BulkEndForm(forms.Form):
    """The confirmation of ending many memberships: the reason, as for one."""

    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)


class LastDayForm(forms.Form):
    """The user's page: extend or shorten the planned end, with the reason for the trail."""

    last_day = last_day_field(required=True)
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        mark_required(self)


class MaxAccessForm(forms.Form):
    """The quality's page: the longest an access of its users may last (empty: no maximum)."""

    max_access_days = forms.IntegerField(
        label=_("Maximum duration of an access (days)"),
        required=False,
        min_value=1,
        max_value=3660,
        help_text=_("For example 365. New users get this as their last day by default; nobody may go beyond it."),
    )


class BulkEndDateForm(forms.Form):
    """The confirmation of a planned end for many memberships: their last day."""

    last_day = forms.DateField(
        label=_("Last day"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("The access ends at midnight after this day (Brussels time)."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        mark_required(self)
