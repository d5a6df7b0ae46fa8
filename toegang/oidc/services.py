"""Registering the OAuth clients of the secured applications (the operator's work), and the token
revocations the provider does on its own (a replayed code, a logout), audited."""

from __future__ import annotations

import secrets
from typing import Any

from cryptography import x509
from django.core.exceptions import ValidationError
from django.db import transaction
from oauth2_provider.models import AbstractApplication, AccessToken, Application, RefreshToken

from toegang.accounts.models import User
from toegang.applications.models import SecuredApplication
from toegang.audit.actions import Action
from toegang.audit.services import audit_record
from toegang.lengths import length_errors
from toegang.oidc.models import ES256, SECRET_METHODS, ClientAuthMethod, ClientProfile, LoginContext, RelyingParty

KEY_METHODS = frozenset({ClientAuthMethod.PRIVATE_KEY_JWT, ClientAuthMethod.TLS_CLIENT_AUTH})


@transaction.atomic
def relying_party_register(
    *,
    actor: User | None,
    application: SecuredApplication,
    client_id: str,
    client_secret: str,
    redirect_uris: list[str],
    post_logout_redirect_uris: list[str] | None = None,
    name: str = "",
    profile: dict[str, Any] | None = None,
    backchannel_logout_uri: str = "",
    backchannel_logout_session_required: bool = False,
) -> tuple[RelyingParty, bool]:
    """Create or update the confidential client ``client_id`` of ``application``; True if created.

    Exact redirect URIs, and exact post-logout redirect URIs (RP-Initiated Logout §3; none: the
    person stays on toegang's page after logout); no consent screen (the operator registered the
    client, and the person's access is decided by the grants); ID tokens signed with RS256 (ES256 if
    the profile says so). ``profile``: the ``ClientProfile`` fields to set (``client_profile_clean``
    checks them); None keeps the client's profile as it is (or none: its secret by Basic or in the body).
    ``backchannel_logout_uri``: where logout tokens are POSTed when a session the client was logged
    into ends (oidc/backchannel.py).
    """
    errors = length_errors(
        (
            ("client_id", client_id, Application, "client_id", "client_id"),
            ("name", name, Application, "name", "name"),
        )
    )
    if errors:
        raise ValidationError(errors)
    cleaned = client_profile_clean(profile) if profile is not None else None
    client = Application.objects.filter(client_id=client_id).first()
    created = client is None
    if client is None:
        client = Application(client_id=client_id)
    client.name = name or f"{application.code} ({client_id})"
    client.client_type = AbstractApplication.CLIENT_CONFIDENTIAL
    client.authorization_grant_type = AbstractApplication.GRANT_AUTHORIZATION_CODE
    client.client_secret = client_secret
    # A client that authenticates by key or certificate has no usable secret: a random one, never shown.
    if cleaned is not None and cleaned["token_endpoint_auth_method"] in KEY_METHODS:
        client.client_secret = secrets.token_urlsafe(48)
    client.redirect_uris = " ".join(redirect_uris)
    client.post_logout_redirect_uris = " ".join(post_logout_redirect_uris or [])
    client.algorithm = AbstractApplication.RS256_ALGORITHM
    client.skip_authorization = True
    client.save()
    rp, _ = RelyingParty.objects.update_or_create(
        client=client,
        defaults={
            "application": application,
            "backchannel_logout_uri": backchannel_logout_uri,
            "backchannel_logout_session_required": backchannel_logout_session_required,
        },
    )
    after_profile: dict[str, Any] = {}
    if cleaned is not None:
        ClientProfile.objects.update_or_create(client=client, defaults=cleaned)
        after_profile = {k: str(v) for k, v in cleaned.items() if k != "jwks"}
        after_profile["jwks_kids"] = [k.get("kid") for k in (cleaned.get("jwks") or {}).get("keys", [])]
    audit_record(
        actor=actor,
        action=Action.OIDC_CLIENT_REGISTERED if created else Action.OIDC_CLIENT_UPDATED,
        params={"client_id": client_id, "application": application.code},
        obj=rp,
        after={
            "client_id": client_id,
            "application": application.code,
            "redirect_uris": redirect_uris,
            **after_profile,
            "post_logout_redirect_uris": post_logout_redirect_uris or [],
            "backchannel_logout_uri": backchannel_logout_uri,
        },
    )
    return rp, created


def _public_jwks(jwks: Any) -> dict[str, Any]:
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise ValidationError({"jwks": 'a JWK set: {"keys": [...]}, with at least one key'})
    for key in jwks["keys"]:
        if not isinstance(key, dict) or key.get("kty") not in ("RSA", "EC"):
            raise ValidationError({"jwks": "only RSA and EC public keys"})
        if any(private in key for private in ("d", "p", "q", "dp", "dq", "qi")):
            raise ValidationError({"jwks": "a private key: register the public key only"})
    return {"keys": jwks["keys"]}


def client_profile_clean(profile: dict[str, Any]) -> dict[str, Any]:
    """The profile's fields, checked: a key-based method has its keys or certificate name; a FAPI
    2.0 client authenticates by key or certificate, pushes its requests and gets ES256 ID tokens."""
    method = profile.get("token_endpoint_auth_method") or ClientAuthMethod.CLIENT_SECRET_BASIC
    if method not in ClientAuthMethod.values:
        raise ValidationError({"token_endpoint_auth_method": f"one of {', '.join(ClientAuthMethod.values)}"})
    jwks = profile.get("jwks")
    jwks_uri = profile.get("jwks_uri") or ""
    cleaned: dict[str, Any] = {
        "token_endpoint_auth_method": method,
        "jwks": _public_jwks(jwks) if jwks is not None else None,
        "jwks_uri": jwks_uri,
        "tls_client_auth_subject_dn": profile.get("tls_client_auth_subject_dn") or "",
        "tls_client_auth_san_dns": profile.get("tls_client_auth_san_dns") or "",
        "require_pushed_authorization_requests": bool(profile.get("require_pushed_authorization_requests")),
        "fapi": bool(profile.get("fapi")),
        "id_token_signed_response_alg": profile.get("id_token_signed_response_alg") or "RS256",
    }
    if jwks is not None and jwks_uri:
        raise ValidationError({"jwks": "either a JWKS or a jwks_uri, not both"})
    if jwks_uri and not jwks_uri.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise ValidationError({"jwks_uri": "https (or http on the loopback address)"})
    if method == ClientAuthMethod.PRIVATE_KEY_JWT and not (jwks is not None or jwks_uri):
        raise ValidationError({"jwks": "private_key_jwt needs the client's JWKS or jwks_uri"})
    if method == ClientAuthMethod.TLS_CLIENT_AUTH:
        if not (cleaned["tls_client_auth_subject_dn"] or cleaned["tls_client_auth_san_dns"]):
            raise ValidationError({"tls_client_auth_subject_dn": "tls_client_auth needs the certificate's subject DN"})
        if cleaned["tls_client_auth_subject_dn"]:
            try:
                x509.Name.from_rfc4514_string(cleaned["tls_client_auth_subject_dn"])
            except ValueError as exc:
                raise ValidationError({"tls_client_auth_subject_dn": "not an RFC 4514 name"}) from exc
    if cleaned["fapi"]:
        if method in SECRET_METHODS:
            raise ValidationError({"token_endpoint_auth_method": "FAPI 2.0: private_key_jwt or tls_client_auth"})
        cleaned["require_pushed_authorization_requests"] = True
        cleaned["id_token_signed_response_alg"] = ES256
    if cleaned["id_token_signed_response_alg"] not in ("RS256", "ES256"):
        raise ValidationError({"id_token_signed_response_alg": "RS256 or ES256"})
    return cleaned


@transaction.atomic
def code_replay_revoke(client: Any, checksum: str) -> bool:
    """RFC 6749 §4.1.2: an authorization code presented again after its exchange revokes the
    tokens that exchange issued (their refresh-token family). True if there were any."""
    login = (
        LoginContext.objects.select_related("user")
        .filter(code_checksum=checksum, grant__isnull=True, token_family__isnull=False)
        .first()
    )
    if login is None or client is None:
        return False
    family = RefreshToken.objects.filter(token_family=login.token_family, application=client)
    if not family.exists():
        return False
    RefreshToken.revoke_family(login.token_family)
    audit_record(
        actor=None,
        action=Action.OIDC_CODE_REPLAYED,
        person=login.user,
        params={"client_id": client.client_id, "person_name": f"{login.user.first_name} {login.user.last_name}"},
    )
    return True


@transaction.atomic
def logout_tokens_revoke(*, person: User, client: Application | None) -> int:
    """RP-initiated logout (docs/oidc.md, "Logout"): every access and refresh token that ``client``
    holds for ``person`` is revoked; other clients' tokens stay. The number of tokens revoked."""
    if client is None:
        return 0
    refresh = list(RefreshToken.objects.filter(user=person, application=client, revoked__isnull=True))
    access = list(AccessToken.objects.filter(user=person, application=client))
    for token in refresh:
        token.revoke()  # and its access token
    for access_token in AccessToken.objects.filter(pk__in=[a.pk for a in access]):
        access_token.revoke()
    count = len(refresh) + len(access)
    audit_record(
        actor=person,
        action=Action.OIDC_LOGOUT,
        person=person,
        params={"client_id": client.client_id, "tokens": count},
    )
    return count
