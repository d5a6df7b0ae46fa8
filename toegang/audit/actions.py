"""The vocabulary of the audit trail: every action the code records, and the reasons it writes itself.

The values are the codes stored in ``AuditEvent.action`` since the first release, so events written
before this enum existed still match their member. A new action needs a member here and a sentence
in ``toegang/audit/rendering.py`` (a test checks both, and that the sentence is in every catalogue).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Action(models.TextChoices):
    # The delegation chain (roles above the users of a subdepartment).
    ROLE_APPOINT = "role.appoint", _("Role appointed")
    ROLE_END = "role.end", _("Role ended")
    # The users of a subdepartment (step 6).
    USER_ADD = "user.add", _("User added")
    USER_CHANGE = "user.change", _("User changed")
    USER_END = "user.end", _("User removed")
    USER_END_PLANNED = "user.end_planned", _("User's end date set")
    PERSON_CORRECT = "person.correct", _("Person's data corrected")
    GRANT_ADD = "grant.add", _("Access given")
    GRANT_END = "grant.end", _("Access ended")
    # The planned end (valid_until) of a grant or role passed and the expiry job closed it: no actor.
    GRANT_EXPIRED = "grant.expired", _("Access expired")
    ROLE_EXPIRED = "role.expired", _("Role expired")
    # Organisations and their applications.
    ENTERPRISE_REGISTER = "enterprise.register", _("Enterprise registered")
    QUALITY_ACTIVATE = "quality.activate", _("Quality activated")
    QUALITY_MAX_ACCESS = "quality.max_access", _("Maximum duration of access set")
    SUBDEPARTMENT_CREATE = "subdepartment.create", _("Subdepartment created")
    APPLICATION_SWITCH_ON = "application.switch_on", _("Application switched on")
    APPLICATION_SWITCH_OFF = "application.switch_off", _("Application switched off")
    CERTIFICATE_UPLOAD = "certificate.upload", _("Certificate added")
    CERTIFICATE_REVOKE = "certificate.revoke", _("Certificate revoked")
    # A person's own account.
    PERSON_UPDATE_SELF = "person.update_self", _("Own data changed")
    PERSON_TEMPORARY_PASSWORD = "person.temporary_password", _("Temporary password given")
    PERSON_PASSWORD_CHANGE = "person.password_change", _("Password changed")
    ACCOUNT_ACTIVATE = "account.activate", _("Account activated")
    ACCOUNT_CLAIM = "account.claim", _("Account claimed with a proven identity")
    ROLE_CONFIRM = "role.confirm", _("Appointment confirmed")
    ACTIVATION_SEND = "activation.send", _("Activation link sent")
    # Logins.
    LOGIN_SUCCESS = "login.success", _("Logged in")
    LOGIN_PASSWORD_FAILED = "login.password.failed", _("Password login failed")
    LOGIN_PASSWORD_LOCKED = "login.password.locked", _("Password login blocked")
    LOGIN_EID_SUCCESS = "login.eid.success", _("eID login")
    LOGIN_EID_REFUSED = "login.eid.refused", _("eID login refused")
    LOGIN_EXTERNAL_ACCEPTED = "login.external.accepted", _("External login")
    LOGIN_EXTERNAL_LINKED = "login.external.linked", _("External identity linked")
    LOGIN_EXTERNAL_REFUSED = "login.external.refused", _("External login refused")
    # The platform operator.
    OIDC_CLIENT_REGISTERED = "oidc.client.registered", _("OpenID Connect client registered")
    OIDC_CLIENT_UPDATED = "oidc.client.updated", _("OpenID Connect client changed")
    OIDC_LOGOUT = "oidc.logout", _("Logged out by an application")
    OIDC_CODE_REPLAYED = "oidc.code.replayed", _("Authorization code used twice")
    # An application exchanged a person's token for one restricted to a facility (RFC 8693), or was refused.
    OIDC_TOKEN_EXCHANGED = "oidc.token.exchanged", _("Token exchanged for a facility")
    OIDC_TOKEN_EXCHANGE_REFUSED = "oidc.token.exchange_refused", _("Token exchange refused")
    # Back-channel logout: a session ended, its applications are told (OpenID Connect Back-Channel Logout).
    OIDC_SESSION_ENDED = "oidc.session.ended", _("Session ended at the applications")
    CATALOGUE_ADD = "catalogue.add", _("Catalogue entry added")
    CATALOGUE_CHANGE = "catalogue.change", _("Catalogue entry changed")
    DATA_GENERATED = "data.generated", _("Scale data generated")


class Reason(models.TextChoices):
    """Reasons the code writes itself (stored as these codes); a manager's typed reason is kept as typed.

    The values are those the services have always written into ``end_reason`` and the trail.
    """

    REPLACED = "replaced", _("replaced by a successor")
    ENDED = "ended", _("ended")
    DELETED = "deleted", _("deleted")
    MEMBERSHIP_ENDED = "membership ended", _("the person is no longer a user of the subdepartment")
    APPLICATION_SWITCHED_OFF = "application switched off", _("the application was switched off")
    SWITCHED_OFF = "switched off", _("switched off")
    UNTICKED = "unticked", _("unticked")
    # The expiry job ended a user's membership because the last of their applications there expired.
    LAST_GRANT_EXPIRED = "last grant expired", _("the last application of the person here expired")
    GENERATE_DATA = "generate_data", _("generate_data command")
    # Password logins refused by allauth's "login_failed" rate limit, when no single limit is named.
    RATE_LIMIT = "rate limit", _("too many failed attempts")
    # External (OpenID Connect) logins.
    NO_SSIN_CLAIM = "no_ssin_claim", _("the provider sent no INSZ")
    MALFORMED_SSIN = "malformed_ssin", _("the provider sent an invalid INSZ")
    CONNECT_OTHER_SSIN = "connect_other_ssin", _("the identity belongs to another INSZ")
    LINKED_TO_OTHER_SSIN = "linked_to_other_ssin", _("the identity is linked to another INSZ")
    INACTIVE = "inactive", _("the account is inactive")
    UNKNOWN_SSIN = "unknown_ssin", _("nobody with this INSZ is known")
    # allauth's AuthError codes, when the provider's answer is an error.
    PROVIDER_ERROR = "unknown", _("the provider reported an error")
    PROVIDER_CANCELLED = "cancelled", _("the login was cancelled")
    PROVIDER_DENIED = "denied", _("the provider refused the login")
    ERROR = "error", _("the login failed")
    # eID logins (toegang.accounts.eid.EidFailure).
    EID_NOT_CONFIGURED = "not_configured", _("eID login is not configured")
    EID_NO_CERTIFICATE = "no_certificate", _("no certificate was presented")
    EID_UNTRUSTED_PROXY = "untrusted_proxy", _("the request did not come through the trusted proxy")
    EID_MALFORMED = "malformed", _("the certificate could not be read")
    EID_EXPIRED = "expired", _("the certificate has expired")
    EID_NOT_YET_VALID = "not_yet_valid", _("the certificate is not valid yet")
    EID_UNTRUSTED_ISSUER = "untrusted_issuer", _("the certificate's issuer is not trusted")
    EID_REVOKED = "revoked", _("the certificate is revoked")
    EID_REVOCATION_UNKNOWN = "revocation_unknown", _("the certificate's revocation status is unknown")
    EID_WRONG_USAGE = "wrong_usage", _("the certificate is not an authentication certificate")
    EID_NO_NATIONAL_NUMBER = "no_national_number", _("the certificate carries no national number")
    EID_REFUSED_BY_PROXY = "refused_by_proxy", _("the proxy refused the certificate")
    EID_UNKNOWN_PERSON = "unknown_person", _("nobody with this national number is known")
    EID_INACTIVE_PERSON = "inactive_person", _("the account is inactive")
