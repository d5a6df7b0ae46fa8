"""allauth's and Django's words that toegang's catalogues say otherwise, so that every page uses the portal's terms.

Django looks a text up in toegang's catalogues (``LOCALE_PATHS``) before allauth's and its own, so an
entry here, translated in ``locale/``, replaces their wording on every page that shows it. Each is
marked with the same message id and context as allauth's template or form uses; nothing reads
this tuple.
docs/glossary.md lists the terms.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy, pgettext_lazy

ALLAUTH_TERMS = (
    # The login form's first field: a username (or the login address). allauth's German says
    # "Anmeldung" (the act of logging in) and its Dutch "Login": "Benutzername", "Gebruikersnaam".
    pgettext_lazy("field label", "Login"),
    # The second factor's page: allauth's French says "clé secrète" (the secret of an authenticator
    # app) for a security key (FIDO2/WebAuthn), which toegang calls "clé de sécurité" everywhere.
    gettext_lazy("Use a security key"),
    # The button that sends the app code: a verb ("Anmelden"), not allauth's noun "Anmeldung".
    gettext_lazy("Sign In"),
    # Django's suffix of a form field's label: its French puts a wide no-break space before the colon,
    # the portal a narrow one (U+202F) everywhere (docs/glossary.md, "Rules of wording").
    gettext_lazy(":"),
)
