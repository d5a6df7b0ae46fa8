"""E-loket Zorg en Gezondheid (demo): a relying party that logs in through toegang.

What the manual calls "HET VERVOLG – TOEGANG TOT DE TOEPASSINGEN": the person opens the application,
logs in through toegang, and "Selecteer in de keuzelijst uw voorziening" lists the facilities of the
`access` claim. After the choice the application asks toegang's authorization API whether that
(person, facility) pair is still allowed, and shows what it would show, or refuses.

The protocol stays in Authlib (discovery, authorization code with PKCE and a nonce, the ID token's
signature against the JWKS, the token and userinfo calls, client credentials); this module only
reads claims, keeps a session and renders pages. It is a separate process on purpose: it talks to
toegang over HTTP like any other application would, and imports nothing from toegang.

Configuration (environment): DEMO_RP_ISSUER (toegang's base URL, default http://127.0.0.1:8000),
DEMO_RP_CLIENT_ID (demo-rp), DEMO_RP_CLIENT_SECRET (demo-rp-secret), DEMO_RP_PORT (8001, used to
build the redirect URI), DEMO_RP_BASE_URL (overrides http://127.0.0.1:<port>) and
DEMO_RP_SESSION_SECRET (signs the session cookie; random per process when unset).
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import requests
from authlib.integrations.flask_client import OAuth
from authlib.integrations.requests_client import OAuth2Session
from flask import Flask, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

SCOPES = "openid profile ssin access"
API_SCOPE = "authz"
HTTP_TIMEOUT = 10

# The demo is Dutch, as the manual; French is there to show the claim's names are not translated by
# the application. Plain dictionaries: this process has no gettext catalogue of its own.
TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        # what follows a label: French puts a narrow no-break space before the colon
        "colon": ":",
        "title": "E-loket Zorg en Gezondheid (demo)",
        "intro": "Deze demotoepassing meldt u aan via toegang en toont de voorzieningen waarvoor u toegang hebt.",
        "login": "Aanmelden via toegang",
        "logout": "Afmelden",
        "refresh": "Toegang vernieuwen",
        "welcome": "Welkom",
        "select": "Selecteer in de keuzelijst uw voorziening",
        "facility": "Voorziening",
        "choose": "Kiezen",
        "other": "Andere voorziening kiezen",
        "none": (
            "U hebt voor deze toepassing geen toegang in een voorziening. Vraag het aan de "
            "subafdelingsbeheerder (SB) van uw voorziening."
        ),
        "enterprise": "Onderneming",
        "cbe": "Ondernemingsnummer",
        "quality": "Hoedanigheid",
        "code": "Identificatiecode",
        "person": "Aangemeld als",
        "name": "Naam",
        "ssin": "INSZ",
        "checked": "Toegang bevestigd door toegang om",
        "refused_title": "Geen toegang",
        "refused": (
            "toegang bevestigt niet (meer) dat u E-loket mag gebruiken voor deze voorziening. Kies een "
            "andere voorziening of vraag de subafdelingsbeheerder (SB) van de voorziening om toegang."
        ),
        "not_offered": "Die voorziening staat niet in uw keuzelijst. Kies een voorziening uit de lijst.",
        "unavailable": "De toegangscontrole van toegang is niet bereikbaar. Probeer het later opnieuw.",
        "login_failed": "Het aanmelden via toegang is niet gelukt",
        "logged_out": "U bent afgemeld.",
    },
    "fr": {
        # what follows a label: French puts a narrow no-break space before the colon
        "colon": "\u202f:",
        "title": "E-guichet Soins et Santé (démo)",
        "intro": "Cette application de démonstration vous connecte via toegang et affiche vos établissements.",
        "login": "Se connecter via toegang",
        "logout": "Se déconnecter",
        "refresh": "Actualiser l'accès",
        "welcome": "Bienvenue",
        "select": "Sélectionnez votre établissement dans la liste",
        "facility": "Établissement",
        "choose": "Choisir",
        "other": "Choisir un autre établissement",
        "none": (
            "Vous n'avez accès à cette application dans aucun établissement. Adressez-vous au "
            "gestionnaire de la sous-section de votre établissement."
        ),
        "enterprise": "Entreprise",
        "cbe": "Numéro d'entreprise",
        "quality": "Qualité",
        "code": "Code d'identification",
        "person": "Connecté en tant que",
        "name": "Nom",
        "ssin": "NISS",
        "checked": "Accès confirmé par toegang à",
        "refused_title": "Accès refusé",
        "refused": (
            "toegang ne confirme pas (plus) que vous pouvez utiliser E-guichet pour cet établissement. "
            "Choisissez un autre établissement ou demandez l'accès au gestionnaire de la sous-section."
        ),
        "not_offered": "Cet établissement ne figure pas dans votre liste. Choisissez-en un dans la liste.",
        "unavailable": "Le contrôle d'accès de toegang est injoignable. Réessayez plus tard.",
        "login_failed": "La connexion via toegang a échoué",
        "logged_out": "Vous êtes déconnecté.",
    },
    "de": {
        # what follows a label: French puts a narrow no-break space before the colon
        "colon": ":",
        "title": "E-Schalter Pflege und Gesundheit (Demo)",
        "intro": "Diese Demo-Anwendung meldet Sie über toegang an und zeigt Ihre Einrichtungen.",
        "login": "Über toegang anmelden",
        "logout": "Abmelden",
        "refresh": "Zugang aktualisieren",
        "welcome": "Willkommen",
        "select": "Wählen Sie Ihre Einrichtung in der Liste",
        "facility": "Einrichtung",
        "choose": "Auswählen",
        "other": "Eine andere Einrichtung wählen",
        "none": (
            "Sie haben in keiner Einrichtung Zugang zu dieser Anwendung. Wenden Sie sich an den "
            "Verwalter der Unterabteilung Ihrer Einrichtung."
        ),
        "enterprise": "Unternehmen",
        "cbe": "Unternehmensnummer",
        "quality": "Eigenschaft",
        "code": "Identifikationscode",
        "person": "Angemeldet als",
        "name": "Name",
        "ssin": "ENSS",
        "checked": "Zugang von toegang bestätigt um",
        "refused_title": "Zugang verweigert",
        "refused": (
            "toegang bestätigt nicht (mehr), dass Sie den E-Schalter für diese Einrichtung nutzen dürfen. "
            "Wählen Sie eine andere Einrichtung oder bitten Sie den Verwalter der Unterabteilung um Zugang."
        ),
        "not_offered": "Diese Einrichtung steht nicht in Ihrer Liste. Wählen Sie eine aus der Liste.",
        "unavailable": "Die Zugangsprüfung von toegang ist nicht erreichbar. Versuchen Sie es später erneut.",
        "login_failed": "Die Anmeldung über toegang ist fehlgeschlagen",
        "logged_out": "Sie sind abgemeldet.",
    },
}


@dataclass(frozen=True)
class Config:
    issuer: str = "http://127.0.0.1:8000"
    client_id: str = "demo-rp"
    client_secret: str = "demo-rp-secret"  # noqa: S105 - the demo client's published secret (make demo-rp)
    base_url: str = "http://127.0.0.1:8001"
    session_secret: str = field(default_factory=lambda: secrets.token_hex(32))

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> Config:
        env = dict(os.environ if environ is None else environ)
        port = env.get("DEMO_RP_PORT", "8001")
        return cls(
            issuer=env.get("DEMO_RP_ISSUER", cls.issuer).rstrip("/"),
            client_id=env.get("DEMO_RP_CLIENT_ID", cls.client_id),
            client_secret=env.get("DEMO_RP_CLIENT_SECRET", cls.client_secret),
            base_url=env.get("DEMO_RP_BASE_URL", f"http://127.0.0.1:{port}").rstrip("/"),
            session_secret=env.get("DEMO_RP_SESSION_SECRET") or secrets.token_hex(32),
        )

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"


# -- the pure parts: the access claim, the choice, the API's answer ---------------------------------


@dataclass(frozen=True)
class Facility:
    subdepartment_id: str
    identification_code: str
    name: str
    enterprise_name: str
    cbe_number: str
    quality_name: str

    def as_session(self) -> dict[str, str]:
        return dict(self.__dict__)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _part(entry: dict[str, Any], key: str) -> dict[str, Any]:
    value = entry.get(key)
    return value if isinstance(value, dict) else {}


def facilities_from_access(access: Any) -> list[Facility]:
    """The picker's entries: one per subdepartment of the `access` claim, sorted by name.

    The claim is toegang's decision at token time (architecture.md: each entry is {enterprise:
    {cbe_number, name}, quality: {code, name}, subdepartment: {id, identification_code, name},
    application, valid_until}). Entries without a subdepartment id are skipped rather than trusted.
    """
    if not isinstance(access, list):
        return []
    seen: dict[str, Facility] = {}
    for entry in access:
        if not isinstance(entry, dict):
            continue
        sd, ent, quality = (_part(entry, k) for k in ("subdepartment", "enterprise", "quality"))
        sd_id = _text(sd.get("id")).strip()
        if not sd_id or sd_id in seen:
            continue
        seen[sd_id] = Facility(
            subdepartment_id=sd_id,
            identification_code=_text(sd.get("identification_code")),
            name=_text(sd.get("name")) or sd_id,
            enterprise_name=_text(ent.get("name")),
            cbe_number=_text(ent.get("cbe_number")),
            quality_name=_text(quality.get("name")),
        )
    return sorted(seen.values(), key=lambda f: (f.name.casefold(), f.subdepartment_id))


def facility_chosen(facilities: list[Facility], choice: Any) -> Facility | None:
    """The facility the person picked, only if the claim offered it (a posted id is never trusted)."""
    wanted = _text(choice).strip()
    return next((f for f in facilities if f.subdepartment_id == wanted), None)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


def decision_from_api(status_code: int, body: Any) -> Decision:
    """Read toegang's answer to GET /api/v1/persons/{ssin}/facilities/{subdepartment_id}.

    Only an explicit yes is a yes: a 2xx whose JSON says `allowed: true`. A 404 (no such grant, or a
    facility or person this client may not see) and a 403 are a no; anything else (5xx, a malformed
    body) raises ApiUnavailable, so the page says the check could not be done instead of letting in.
    """
    if status_code in (403, 404):
        reason = body.get("detail") if isinstance(body, dict) else None
        return Decision(allowed=False, reason=_text(reason) or f"HTTP {status_code}")
    if 200 <= status_code < 300 and isinstance(body, dict) and isinstance(body.get("allowed"), bool):
        return Decision(allowed=body["allowed"], reason=_text(body.get("reason")))
    raise ApiUnavailable(f"unexpected answer from the authorization API: HTTP {status_code}")


class ApiUnavailable(Exception):
    pass


# -- toegang's authorization API, with a client-credentials token ----------------------------------


class AuthzApi:
    """The API client: one client-credentials token (scope authz) reused until shortly before expiry."""

    def __init__(self, config: Config, token_endpoint: str) -> None:
        self.config = config
        self.token_endpoint = token_endpoint
        self._lock = threading.Lock()
        self._token: dict[str, Any] | None = None

    def _access_token(self, *, renew: bool = False) -> str:
        with self._lock:
            token = self._token
            if renew or token is None or float(token.get("expires_at", 0)) - 30 < time.time():
                with OAuth2Session(self.config.client_id, self.config.client_secret, scope=API_SCOPE) as client:
                    token = dict(
                        client.fetch_token(self.token_endpoint, grant_type="client_credentials", timeout=HTTP_TIMEOUT)
                    )
                self._token = token
            return str(token["access_token"])

    def check(self, ssin: str, subdepartment_id: str) -> Decision:
        url = (
            f"{self.config.issuer}/api/v1/persons/{quote(ssin, safe='')}/facilities/{quote(subdepartment_id, safe='')}"
        )
        try:
            response = self._get(url, self._access_token())
            if response.status_code == 401:  # revoked or expired early: one new token, one retry
                response = self._get(url, self._access_token(renew=True))
            try:
                body = response.json()
            except ValueError:
                body = None
            return decision_from_api(response.status_code, body)
        except (requests.RequestException, KeyError) as exc:
            raise ApiUnavailable(str(exc)) from exc
        except Exception as exc:  # Authlib's OAuthError when the token request is refused
            if isinstance(exc, ApiUnavailable):
                raise
            raise ApiUnavailable(repr(exc)) from exc

    @staticmethod
    def _get(url: str, access_token: str) -> requests.Response:
        return requests.get(
            url, headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"}, timeout=HTTP_TIMEOUT
        )


# -- the web application ----------------------------------------------------------------------------


@dataclass
class Login:
    """One person's login here: their tokens and the claims the pages show."""

    token: dict[str, Any]
    person: dict[str, Any]
    chosen: str = ""


class LoginStore:
    """Logins stay on the server; the session cookie (signed, but readable) holds only a random key.

    So the tokens and the INSZ never reach the browser, and a large `access` claim does not outgrow a
    cookie. Process memory: the demo runs one gunicorn worker; a real application would use its
    database or a cache shared by its workers.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logins: dict[str, Login] = {}

    def put(self, login: Login) -> str:
        key = secrets.token_urlsafe(24)
        with self._lock:
            self._logins[key] = login
        return key

    def get(self, key: str | None) -> Login | None:
        with self._lock:
            return self._logins.get(key or "")

    def pop(self, key: str | None) -> Login | None:
        with self._lock:
            return self._logins.pop(key or "", None)


def _lang() -> str:
    lang = request.args.get("lang") or session.get("lang") or "nl"
    return lang if lang in TEXTS else "nl"


def _person(claims: dict[str, Any]) -> dict[str, Any]:
    name = " ".join(_text(claims.get(k)) for k in ("given_name", "family_name") if claims.get(k)) or _text(
        claims.get("name")
    )
    return {
        "sub": _text(claims.get("sub")),
        "name": name,
        "ssin": _text(claims.get("ssin")),
        "facilities": [f.as_session() for f in facilities_from_access(claims.get("access"))],
    }


def create_app(config: Config | None = None, *, authz: AuthzApi | None = None) -> Flask:
    """The application; `authz` replaces the API client (tests), which is otherwise built on first use."""
    config = config or Config.from_environment()
    app = Flask(__name__, template_folder=str(Path(__file__).resolve().parent / "templates"))
    app.config.update(
        SECRET_KEY=config.session_secret,
        SESSION_COOKIE_NAME="eloket_demo_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    oauth = OAuth(app)
    toegang = oauth.register(
        "toegang",
        client_id=config.client_id,
        client_secret=config.client_secret,
        server_metadata_url=config.discovery_url,
        client_kwargs={"scope": SCOPES, "code_challenge_method": "S256", "timeout": HTTP_TIMEOUT},
    )
    logins = LoginStore()
    app.extensions["demo_rp_logins"] = logins
    api: dict[str, AuthzApi] = {"api": authz} if authz else {}

    def authz_api() -> AuthzApi:
        if "api" not in api:
            api["api"] = AuthzApi(config, toegang.load_server_metadata()["token_endpoint"])
        return api["api"]

    def current() -> Login | None:
        return logins.get(session.get("login"))

    def page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
        lang = _lang()
        login = current()
        person = login.person if login else None
        return render_template(template, t=TEXTS[lang], lang=lang, person=person, **context), status

    def facilities(login: Login) -> list[Facility]:
        return [Facility(**f) for f in login.person.get("facilities", [])]

    def read_claims(token: dict[str, Any]) -> dict[str, Any]:
        # The ID token's claims (checked by Authlib), then userinfo, which answers for the token now.
        claims = dict(token.get("userinfo") or {})
        claims.update(toegang.userinfo(token=token))
        return claims

    @app.get("/")
    def home() -> Any:
        if request.args.get("lang") in TEXTS:
            session["lang"] = request.args["lang"]
        login = current()
        if login is None:
            return page("login.html")
        return page("picker.html", facilities=facilities(login))

    @app.get("/login")
    def login() -> Response:
        logins.pop(session.pop("login", None))
        return toegang.authorize_redirect(  # type: ignore[no-any-return]
            f"{config.base_url}/callback", ui_locales=_lang()
        )

    @app.get("/callback")
    def callback() -> Any:
        t = TEXTS[_lang()]
        if request.args.get("error"):
            detail = request.args.get("error_description") or request.args["error"]
            return page("login.html", 400, message=f"{t['login_failed']}: {detail}")
        try:
            token = dict(toegang.authorize_access_token())
            claims = read_claims(token)
        except Exception as exc:  # Authlib's OAuthError, a bad ID token, toegang unreachable
            return page("login.html", 400, message=f"{t['login_failed']}: {exc}")
        logins.pop(session.get("login"))
        session["login"] = logins.put(Login(token=token, person=_person(claims)))
        return redirect(url_for("home"))

    @app.post("/refresh")
    def refresh() -> Any:
        """A new access token with the refresh token: the claims as toegang sees them now."""
        login = current()
        if login is None or not login.token.get("refresh_token"):
            return redirect(url_for("login"))
        try:
            new = dict(
                toegang.fetch_access_token(grant_type="refresh_token", refresh_token=login.token["refresh_token"])
            )
            claims = dict(toegang.userinfo(token=new))
        except Exception:  # refused (revoked, expired, person blocked): log in again
            return redirect(url_for("login"))
        login.token = {**login.token, **new}
        login.person = _person({**claims, "sub": claims.get("sub") or login.person.get("sub")})
        login.chosen = ""
        return redirect(url_for("home"))

    @app.post("/choose")
    def choose() -> Any:
        login = current()
        if login is None:
            return redirect(url_for("home"))
        chosen = facility_chosen(facilities(login), request.form.get("facility"))
        if chosen is None:
            return page("picker.html", 400, facilities=facilities(login), message=TEXTS[_lang()]["not_offered"])
        login.chosen = chosen.subdepartment_id
        return redirect(url_for("facility"))

    @app.get("/facility")
    def facility() -> Any:
        """What E-loket would show, each time after toegang's API confirms the choice again."""
        login = current()
        if login is None:
            return redirect(url_for("home"))
        chosen = facility_chosen(facilities(login), login.chosen)
        if chosen is None:
            return redirect(url_for("home"))
        try:
            decision = authz_api().check(login.person["ssin"], chosen.subdepartment_id)
        except ApiUnavailable as exc:
            app.logger.warning("authorization API: %s", exc)
            return page("refused.html", 503, facility=chosen, message=TEXTS[_lang()]["unavailable"])
        if not decision.allowed:
            login.chosen = ""
            return page("refused.html", 403, facility=chosen, message=TEXTS[_lang()]["refused"])
        return page("facility.html", facility=chosen, checked_at=time.strftime("%H:%M:%S"))

    @app.post("/logout")
    def logout() -> Response:
        """RP-initiated logout: forget the login here, then end toegang's at its end_session_endpoint."""
        login = logins.pop(session.get("login"))
        id_token = login.token.get("id_token", "") if login else ""
        lang = _lang()
        session.clear()
        session["lang"] = lang
        try:
            end_session = toegang.load_server_metadata().get("end_session_endpoint")
        except Exception:
            end_session = None
        if not end_session:
            return redirect(url_for("home"))
        params = {"client_id": config.client_id, "post_logout_redirect_uri": f"{config.base_url}/"}
        if id_token:
            params["id_token_hint"] = id_token
        return redirect(f"{end_session}?{urlencode(params)}")

    @app.get("/healthz")
    def healthz() -> str:
        return "ok"

    return app
