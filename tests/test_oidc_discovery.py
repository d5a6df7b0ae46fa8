"""Discovery that tells the truth (issue 14): every value of /.well-known/openid-configuration held to
what the endpoints do, and every key listed on purpose (a new one must be added here, with its check).

OpenID Connect Discovery 1.0 §3 gives defaults to some absent keys (response modes query and
fragment, grants authorization_code and implicit, request_uri_parameter_supported true); toegang
follows none of them, so they are listed.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from django.test import Client

from tests import test_oidc_conformance as conf
from tests.conftest import World, login

clients = conf.clients  # the two relying parties of the conformance tests
ELOKET, RAAS = conf.ELOKET, conf.RAAS

KEYS = {
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "end_session_endpoint",
    "introspection_endpoint",
    "revocation_endpoint",
    "scopes_supported",
    "response_types_supported",
    "response_modes_supported",
    "grant_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
    "token_endpoint_auth_methods_supported",
    "introspection_endpoint_auth_methods_supported",
    "revocation_endpoint_auth_methods_supported",
    "code_challenge_methods_supported",
    "claims_supported",
    "claims_parameter_supported",
    "prompt_values_supported",
    "request_parameter_supported",
    "request_uri_parameter_supported",
    "authorization_response_iss_parameter_supported",
    "client_id_metadata_document_supported",
    # private_key_jwt (tests/test_oidc_client_auth.py checks each algorithm and refusal)
    "token_endpoint_auth_signing_alg_values_supported",
    "introspection_endpoint_auth_signing_alg_values_supported",
    "revocation_endpoint_auth_signing_alg_values_supported",
    # PAR and request objects (tests/test_oidc_client_auth.py, tests/test_oidc_par_peers.py)
    "pushed_authorization_request_endpoint",
    "require_pushed_authorization_requests",
    "request_object_signing_alg_values_supported",
    # step-up (tests/test_oidc_step_up.py) and back-channel logout (tests/test_oidc_backchannel.py)
    "acr_values_supported",
    "backchannel_logout_supported",
    "backchannel_logout_session_supported",
    # sender-constrained access tokens (tests/test_oidc_sender_constrained.py, tests/test_oauth4webapi_tokens.py)
    "dpop_signing_alg_values_supported",
    "tls_client_certificate_bound_access_tokens",
}
ALL_RESPONSE_TYPES = ("token", "id_token", "id_token token", "code token", "code id_token", "code id_token token")
OTHER_GRANTS = (
    "password",
    "implicit",
    "urn:ietf:params:oauth:grant-type:device_code",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
)


def discovery() -> dict[str, Any]:
    config: dict[str, Any] = Client().get("/.well-known/openid-configuration").json()
    assert Client().get("/oauth/.well-known/openid-configuration").json() == config
    return config


def jwt_part(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def token_request(http: Client, data: dict[str, str], rp: tuple[str, str, str] = ELOKET, how: str = "basic") -> Any:
    if how == "basic":
        return http.post("/oauth/token/", data, **conf.basic(rp))
    return http.post("/oauth/token/", {**data, "client_id": rp[0], "client_secret": rp[1]})


def test_discovery_lists_what_is_supported_and_nothing_else(clients: World) -> None:
    config = discovery()
    assert set(config) == KEYS, set(config) ^ KEYS
    assert config["issuer"] == conf.ISSUER
    assert config["response_types_supported"] == ["code"]
    assert config["response_modes_supported"] == ["query"]
    assert config["grant_types_supported"] == [
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange",  # tests/test_oidc_token_exchange.py
    ]
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert config["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]  # ES256: FAPI clients
    assert config["subject_types_supported"] == ["public"]
    assert config["prompt_values_supported"] == ["none", "login"]
    assert config["request_parameter_supported"] is True  # signed request objects
    assert config["request_uri_parameter_supported"] is False  # only PAR's request_uri
    assert config["require_pushed_authorization_requests"] is False  # per client (FAPI clients: always)
    assert config["claims_parameter_supported"] is False
    assert config["client_id_metadata_document_supported"] is False
    assert config["authorization_response_iss_parameter_supported"] is True
    for key in ("token", "introspection", "revocation"):
        assert config[f"{key}_endpoint_auth_methods_supported"] == [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "tls_client_auth",
        ]
        assert config[f"{key}_endpoint_auth_signing_alg_values_supported"] == ["PS256", "ES256", "RS256"]


def test_every_listed_endpoint_answers(clients: World) -> None:
    config = discovery()
    http = Client()
    for key in KEYS:
        if key.endswith("_endpoint") or key == "jwks_uri":
            assert config[key].startswith(conf.ISSUER + "/"), key
            path = config[key][len(conf.ISSUER) :]
            assert http.get(path).status_code != 404 or http.post(path).status_code != 404, key


def test_response_types_and_modes_are_what_discovery_says(clients: World) -> None:
    config = discovery()
    http = Client()
    login(http, clients.person("user"))
    for response_type in config["response_types_supported"]:
        for mode in config["response_modes_supported"]:
            answer = conf.answer_of(
                http.get("/oauth/authorize/", conf.request_params(response_type=response_type, response_mode=mode))
            )
            assert answer["code"] and answer["iss"] == config["issuer"]
    for response_type in ALL_RESPONSE_TYPES:
        answer = conf.answer_of(http.get("/oauth/authorize/", conf.request_params(response_type=response_type)))
        assert answer["error"] == "unsupported_response_type", response_type
    for mode in ("fragment", "form_post", "jwt"):
        answer = conf.answer_of(http.get("/oauth/authorize/", conf.request_params(response_mode=mode)))
        assert answer["error"] == "invalid_request" and answer["iss"] == config["issuer"], mode
    # PKCE: S256 only; "plain" refused.
    assert conf.answer_of(http.get("/oauth/authorize/", conf.request_params(code_challenge_method="plain")))["error"]
    # Request objects: supported (a malformed one is refused at the redirect URI, with iss); a
    # request_uri other than a pushed request's is not, and discovery says so.
    assert config["request_parameter_supported"] is True
    answer = conf.answer_of(http.get("/oauth/authorize/", conf.request_params(request="x")))
    assert answer["error"] == "invalid_request_object" and answer["iss"] == config["issuer"]
    assert config["request_uri_parameter_supported"] is False
    answer = conf.answer_of(http.get("/oauth/authorize/", conf.request_params(request_uri="x")))
    assert answer["error"] == "request_uri_not_supported" and answer["iss"] == config["issuer"]
    # prompt: none answers without a page (here a code: logged in), login sends to the login page.
    assert conf.answer_of(http.get("/oauth/authorize/", conf.request_params(prompt="none")))["code"]
    r = http.get("/oauth/authorize/", conf.request_params(prompt="login"))
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]


def test_grants_and_client_authentication_are_what_discovery_says(clients: World) -> None:
    config = discovery()
    http = Client()
    login(http, clients.person("user"))
    for how in ("basic", "post"):  # client_secret_basic, client_secret_post
        code = conf.answer_of(http.get("/oauth/authorize/", conf.request_params()))["code"]
        grant = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": ELOKET[2],
            "code_verifier": conf.VERIFIER,
        }
        tokens = token_request(http, grant, how=how).json()
        assert tokens["id_token"], how
        refreshed = token_request(
            http, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, how=how
        )
        assert refreshed.status_code == 200, refreshed.content
        cc = token_request(http, {"grant_type": "client_credentials", "scope": "authz"}, how=how)
        assert cc.status_code == 200 and cc.json()["scope"] == "authz"
        for endpoint in ("introspect", "revoke_token"):
            data = {"token": cc.json()["access_token"]}
            if how == "post":
                data.update(client_id=ELOKET[0], client_secret=ELOKET[1])
                r = http.post(f"/oauth/{endpoint}/", data)
            else:
                r = http.post(f"/oauth/{endpoint}/", data, **conf.basic(ELOKET))
            assert r.status_code == 200, (endpoint, how, r.content)
    # The fourth, token exchange, has its own tests (tests/test_oidc_token_exchange.py).
    assert {
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    } == set(config["grant_types_supported"])
    for grant_type in OTHER_GRANTS:
        r = token_request(http, {"grant_type": grant_type})
        assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type", grant_type
    # No other client authentication: a client id alone ("none") is no authentication.
    r = http.post("/oauth/token/", {"grant_type": "client_credentials", "scope": "authz", "client_id": ELOKET[0]})
    assert r.status_code == 401


def test_scopes_claims_and_signing_are_what_discovery_says(clients: World) -> None:
    config = discovery()
    person_scopes = [s for s in config["scopes_supported"] if s != "authz"]
    http = Client()
    login(http, clients.person("user"))
    code = conf.answer_of(http.get("/oauth/authorize/", conf.request_params(scope=" ".join(person_scopes))))["code"]
    tokens = token_request(
        http,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": ELOKET[2], "code_verifier": conf.VERIFIER},
    ).json()
    assert set(tokens["scope"].split()) == set(person_scopes) and tokens["refresh_token"]  # offline_access
    assert jwt_part(tokens["id_token"], 0)["alg"] in config["id_token_signing_alg_values_supported"]
    claims = jwt_part(tokens["id_token"], 1)
    userinfo = http.get("/oauth/userinfo/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").json()
    supplied = set(claims) | set(userinfo)
    assert set(config["claims_supported"]) <= supplied, set(config["claims_supported"]) - supplied
    keys = Client().get("/oauth/.well-known/jwks.json").json()["keys"]
    assert {k["alg"] for k in keys} <= set(config["id_token_signing_alg_values_supported"])
    # "public" subjects: the same sub for the same person at another client.
    code = conf.answer_of(http.get("/oauth/authorize/", conf.request_params(RAAS)), RAAS)["code"]
    raas = token_request(
        http,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": RAAS[2], "code_verifier": conf.VERIFIER},
        RAAS,
    ).json()
    assert jwt_part(raas["id_token"], 1)["sub"] == claims["sub"]
    # authz: client credentials only; a scope discovery does not list is refused.
    assert (
        conf.answer_of(http.get("/oauth/authorize/", conf.request_params(scope="openid authz")))["error"]
        == "invalid_scope"
    )
    assert (
        conf.answer_of(http.get("/oauth/authorize/", conf.request_params(scope="openid phone")))["error"]
        == "invalid_scope"
    )
