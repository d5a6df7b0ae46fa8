"""Settings for toegang.

Configuration comes only from environment variables prefixed ``TOEGANG_`` (README lists them all).
Defaults make a fresh checkout work: SQLite under ``var/``, console e-mail, a cache table in the database.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TOEGANG_VAR_DIR", BASE_DIR / "var"))


def env(name: str, default: str = "") -> str:
    return os.environ.get(f"TOEGANG_{name}", default)


def env_bool(name: str, default: bool = False) -> bool:
    return env(name, "1" if default else "0").lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DEBUG")
# A development key is acceptable only with DEBUG or under tests; accounts/checks.py refuses it otherwise.
DEV_SECRET_KEY = "toegang-development-key-not-for-production"
SECRET_KEY = env("SECRET_KEY", DEV_SECRET_KEY)
BASE_URL = env("BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# The hosts this server answers for; any other Host header is refused (400). By default only
# TOEGANG_BASE_URL's host (on the loopback interface both names of it); Django's test runner adds
# "testserver". Links in e-mails never come from the Host header anyway (toegang/mail/links.py).
_BASE_HOST = urlparse(BASE_URL).hostname or "127.0.0.1"
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
_DEFAULT_HOSTS = "127.0.0.1,localhost,[::1]" if _BASE_HOST in _LOOPBACK_HOSTS else _BASE_HOST
ALLOWED_HOSTS = [h.strip() for h in env("ALLOWED_HOSTS", _DEFAULT_HOSTS).split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [BASE_URL]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.usersessions",
    "django_filters",
    # django-csp: the Content-Security-Policy header (toegang/portal/security.py) and its checks
    "csp",
    "django_tasks",
    "django_tasks_db",
    # the Redis engine's worker command (manage.py rqworker) and its queue configuration
    "django_rq",
    "oauth2_provider",
    "toegang.accounts",
    "toegang.audit",
    "toegang.organisations",
    "toegang.applications",
    "toegang.delegation",
    "toegang.portal",
    "toegang.mail",
    "toegang.jobs",
    "toegang.oidc",
    # django-ninja: in INSTALLED_APPS so that /api/docs serves its bundled Swagger UI (no CDN)
    "ninja",
    "toegang.api",
    "toegang.seed",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "toegang.portal.security.ContentSecurityPolicyMiddleware",
    # A NUL (or a lone surrogate) anywhere in the request: a 400 before anything reads it (input_guard.py).
    "toegang.input_guard.NulByteMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "toegang.portal.security.NoStoreMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "toegang.accounts.middleware.MustChangePasswordMiddleware",
    "toegang.accounts.sessions.SessionTimeoutMiddleware",
    "toegang.accounts.sessions.StepUpMiddleware",
    "toegang.audit.middleware.RequestContextMiddleware",
    "toegang.delegation.middleware.RolesCachedForReadsMiddleware",
    # A change that lost a race (toegang.locks) answers "try again" instead of a 500.
    "toegang.portal.middleware.ConcurrentChangeMiddleware",
]
# The authorization API (/api/: bearer tokens, no cookies) runs through this shorter list
# (toegang/wsgi.py); each entry is in MIDDLEWARE, in the same order, but for the language's
# (tests/test_wsgi.py).
API_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "toegang.portal.security.ContentSecurityPolicyMiddleware",
    # A NUL (or a lone surrogate) anywhere in the request: a 400 before anything reads it (input_guard.py).
    "toegang.input_guard.NulByteMiddleware",
    # LocaleMiddleware's place: the language from Accept-Language only (no cookie, no URL prefix).
    "toegang.api.middleware.AcceptLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "toegang.portal.security.NoStoreMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "toegang.audit.middleware.RequestContextMiddleware",
]
# The token endpoint (/oauth/token/: client credentials, JSON for machines; toegang/wsgi.py): security
# headers, the NUL guard and the audit context only. oauthlib sets its own Cache-Control: no-store;
# no session, CSRF, language, CSP or frame options to apply to a JSON answer. Each entry is in
# MIDDLEWARE, in the same order (tests/test_wsgi.py).
TOKEN_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "toegang.input_guard.NulByteMiddleware",
    "toegang.audit.middleware.RequestContextMiddleware",
]

ROOT_URLCONF = "toegang.urls"
WSGI_APPLICATION = "toegang.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "toegang" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "toegang.portal.context_processors.portal",
            ],
        },
    },
]

_default_db = f"sqlite:///{VAR_DIR / 'toegang.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(env("DATABASE_URL", _default_db), conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE avoids lock upgrades that deadlock.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    # Client secrets only (OAUTH2_PROVIDER's CLIENT_SECRET_HASHER): random, so a fast hash suffices.
    "toegang.oidc.hashers.ClientSecretHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    # NIST SP 800-63B: no composition rules; Django's 20,000 common and 4.2 million breached passwords
    # refused, and the person's INSZ or username (toegang/accounts/validators.py).
    {"NAME": "toegang.accounts.validators.BreachedPasswordValidator"},
    {"NAME": "toegang.accounts.validators.PersonalDataValidator"},
]

# django-allauth: login by username or e-mail; nobody signs up, accounts come from appointments.
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_ADAPTER = "toegang.accounts.adapter.AccountAdapter"
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
# One login address, one account (docs/security.md): the e-mail page refuses another account's address.
ACCOUNT_FORMS = {"add_email": "toegang.accounts.forms.AddEmailForm"}
# How long the activation link of an appointment stays valid (toegang/delegation/activation.py).
ACTIVATION_LINK_SECONDS = int(env("ACTIVATION_LINK_SECONDS", str(14 * 24 * 3600)))
# Failed password logins: at most TOEGANG_LOGIN_FAILED_LIMITS per client address ("ip") and per account
# from one client address ("key": the account, whether named by username or e-mail, or for an unknown
# name the name itself, so the answer is the same), and TOEGANG_LOGIN_FAILED_ACCOUNT_LIMITS per account
# from every address together (NIST SP 800-63B: at most 100 failures). A lock holds the password login
# only: eID, the external provider and a passkey still log the person in; it opens again when its
# oldest failure leaves the window, or for its owner by a password reset mail (accounts/passwords.py).
# Behind a reverse proxy TOEGANG_TRUSTED_PROXY_COUNT=1 makes the address the client's, from
# X-Forwarded-For, rather than the proxy's.
ACCOUNT_RATE_LIMITS = {"login_failed": env("LOGIN_FAILED_LIMITS", "10/m/ip,5/15m/key")}
LOGIN_FAILED_ACCOUNT_LIMITS = env("LOGIN_FAILED_ACCOUNT_LIMITS", "100/d/key")
ALLAUTH_TRUSTED_PROXY_COUNT = int(env("TRUSTED_PROXY_COUNT", "0"))
# Second factors (allauth.mfa): a code from a mobile app (TOTP), a security key or passkey
# (WebAuthn), and recovery codes.
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_TOTP_ISSUER = "toegang"
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_FORMS = {"add_webauthn": "toegang.accounts.forms.AddWebAuthnForm"}
# Browsers treat http://127.0.0.1 and localhost as secure contexts; production runs on https.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = not BASE_URL.startswith("https://")
# The sessions page's "last seen": updated once a minute by toegang.accounts.sessions.SessionTimeoutMiddleware
# (allauth's own UserSessionsMiddleware writes its row on every request, reads included).
USERSESSIONS_TRACK_ACTIVITY = True
SOCIALACCOUNT_ADAPTER = "toegang.accounts.adapter.SocialAccountAdapter"
SOCIALACCOUNT_AUTO_SIGNUP = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_STORE_TOKENS = False
# External OpenID Connect provider (itsme or the federal login: level 450) through allauth's generic
# OpenID Connect client, with PKCE. The person is found by the INSZ claim (accounts/adapter.py);
# without TOEGANG_OIDC_PROVIDER_URL the login page shows no external provider.
OIDC_PROVIDER_URL = env("OIDC_PROVIDER_URL").rstrip("/")
OIDC_PROVIDER_ID = env("OIDC_PROVIDER_ID", "itsme")
OIDC_SSIN_CLAIM = env("OIDC_SSIN_CLAIM", "ssin")
SOCIALACCOUNT_PROVIDERS: dict[str, dict[str, object]] = {
    "openid_connect": {
        "OAUTH_PKCE_ENABLED": True,
        "APPS": [
            {
                "provider_id": OIDC_PROVIDER_ID,
                "name": env("OIDC_PROVIDER_NAME", "itsme"),
                "client_id": env("OIDC_CLIENT_ID"),
                "secret": env("OIDC_CLIENT_SECRET"),
                "settings": {
                    "server_url": OIDC_PROVIDER_URL,
                    "oauth_pkce_enabled": True,
                    "scope": env("OIDC_SCOPE", "openid ssin").split(),
                },
            }
        ]
        if OIDC_PROVIDER_URL
        else [],
    }
}
# Assurance levels (toegang/accounts/assurance.py): the level each role needs for the management
# screens. TOEGANG_MIN_LEVEL overrides per role, e.g. "subdepartment_manager=500,operator=500".
ASSURANCE_MIN_LEVEL: dict[str, int] = {
    "default": 400,
    "operator": 400,
    "legal_representative": 400,
    "main_access_manager": 400,
    "co_main_access_manager": 400,
    "access_manager": 400,
    "co_access_manager": 400,
    "subdepartment_manager": 400,
    "co_subdepartment_manager": 400,
    "user": 200,
}
for _item in filter(None, (x.strip() for x in env("MIN_LEVEL").split(","))):
    _role, _sep, _level = _item.partition("=")
    ASSURANCE_MIN_LEVEL[_role.strip()] = int(_level)
# Sessions end after TOEGANG_SESSION_IDLE_SECONDS without a request, and in any case
# TOEGANG_SESSION_ABSOLUTE_SECONDS after the login (toegang/accounts/sessions.py).
SESSION_IDLE_SECONDS = int(env("SESSION_IDLE_SECONDS", "1800"))
SESSION_ABSOLUTE_SECONDS = int(env("SESSION_ABSOLUTE_SECONDS", "36000"))
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_SECONDS
# Where sessions live: the database by default; "django.contrib.sessions.backends.cache" (Redis via
# TOEGANG_REDIS_URL) or ".cached_db" on several app servers (docs/deployment.md).
SESSION_ENGINE = env("SESSION_ENGINE", "django.contrib.sessions.backends.db")
# eID / client-certificate login (toegang/accounts/eid.py, docs/eid.md). nginx verifies the certificate
# and passes it in TOEGANG_EID_HEADER, read only from TOEGANG_EID_TRUSTED_PROXIES; the application
# checks it again against TOEGANG_EID_CA_BUNDLE (comma-separated PEM files; empty: eID is off) and
# the CRL file TOEGANG_EID_CRL (PEM or DER; empty: no revocation check).
EID_HEADER = env("EID_HEADER", "X-SSL-Client-Cert")
EID_TRUSTED_PROXIES = [a.strip() for a in env("EID_TRUSTED_PROXIES", "127.0.0.1").split(",") if a.strip()]
EID_CA_BUNDLE = [p.strip() for p in env("EID_CA_BUNDLE").split(",") if p.strip()]
EID_CRL = env("EID_CRL")
# django-oauth-toolkit's models (named explicitly: migrations resolve them by these settings).
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth2_provider.RefreshToken"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth2_provider.IDToken"
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"
# OpenID Connect provider for the secured applications (toegang/oidc, docs/oidc.md). Tokens are
# signed with RS256; the key is the PEM file TOEGANG_OIDC_KEY_FILE (`manage.py oidc_key` makes it;
# `make run` calls it). Without that file (tests, a one-off shell) the process signs with a key of
# its own, made once at start-up: tokens then do not survive a restart. Old keys stay in the JWKS,
# so tokens they signed still verify, from TOEGANG_OIDC_OLD_KEY_FILES (comma-separated PEM files).
from toegang.oidc.keys import load_ec_private_key, load_old_keys, load_private_key  # noqa: E402

OIDC_KEY_FILE = Path(env("OIDC_KEY_FILE", str(VAR_DIR / "oidc-rsa.pem")))
# The EC P-256 key (ES256), made and loaded as the RSA one: it signs the JWT access tokens (RFC 9068,
# toegang/oidc/jwt_tokens.py) and the ID tokens of the clients that ask for ES256 (FAPI 2.0 clients);
# without the file, a key of the process's own. Retired keys (TOEGANG_OIDC_OLD_EC_KEY_FILES, comma-
# separated) stay in the JWKS until the tokens they signed have expired (docs/oidc.md).
OIDC_EC_KEY_FILE = Path(env("OIDC_EC_KEY_FILE", str(VAR_DIR / "oidc-ec.pem")))
OIDC_EC_PRIVATE_KEY = load_ec_private_key(OIDC_EC_KEY_FILE)
OIDC_EC_OLD_KEYS = load_old_keys(env("OIDC_OLD_EC_KEY_FILES"))
OIDC_EC_PRIVATE_KEYS_INACTIVE = OIDC_EC_OLD_KEYS
# tls_client_auth (RFC 8705): the CAs that issue the clients' certificates (comma-separated PEM
# files), checked again here after the reverse proxy; empty: no client authenticates by certificate.
# The certificate comes in TOEGANG_EID_HEADER from TOEGANG_EID_TRUSTED_PROXIES, as for the eID.
OIDC_CLIENT_CA_BUNDLE = [p.strip() for p in env("OIDC_CLIENT_CA_BUNDLE").split(",") if p.strip()]
# Pushed authorization requests (RFC 9126) for every client, not only those registered for it.
OIDC_REQUIRE_PUSHED_AUTHORIZATION_REQUESTS = env_bool("OIDC_REQUIRE_PUSHED_AUTHORIZATION_REQUESTS")
OAUTH2_PROVIDER: dict[str, object] = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": load_private_key(OIDC_KEY_FILE),
    "OIDC_RSA_PRIVATE_KEYS_INACTIVE": load_old_keys(env("OIDC_OLD_KEY_FILES")),
    "OIDC_ISS_ENDPOINT": BASE_URL,
    "OAUTH2_VALIDATOR_CLASS": "toegang.oidc.validator.OAuth2Validator",
    # oauthlib's OpenID Connect server plus token exchange (RFC 8693): toegang/oidc/server.py.
    "OIDC_SERVER_CLASS": "toegang.oidc.server.Server",
    # Access tokens: JWTs (RFC 9068, toegang/oidc/jwt_tokens.py); refresh tokens stay random strings.
    "ACCESS_TOKEN_GENERATOR": "toegang.oidc.validator.access_token_generator",
    "REFRESH_TOKEN_GENERATOR": "oauthlib.oauth2.rfc6749.tokens.random_token_generator",
    # Client secrets are random: one salted HMAC-SHA256, not Argon2 (toegang/oidc/hashers.py).
    "CLIENT_SECRET_HASHER": "pbkdf2_sha256_client",
    "PKCE_REQUIRED": True,
    "SCOPES": {
        "openid": "OpenID Connect",
        "profile": "Name and language",
        "email": "E-mail address",
        "ssin": "National register number (INSZ)",
        "access": "The facilities where you may use the application",
        "offline_access": "Stay connected (refresh tokens)",
        "authz": "Authorization API: check a person's access to the client's application",
    },
    "DEFAULT_SCOPES": ["openid"],
    # Plain http only for a development set-up on http (RFC 9700 §2.1); production, on https, has none.
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"] if BASE_URL.startswith("https://") else ["http", "https"],
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ACCESS_TOKEN_EXPIRE_SECONDS": int(env("OIDC_ACCESS_TOKEN_SECONDS", "600")),
    "ID_TOKEN_EXPIRE_SECONDS": int(env("OIDC_ACCESS_TOKEN_SECONDS", "600")),
    "REFRESH_TOKEN_EXPIRE_SECONDS": SESSION_ABSOLUTE_SECONDS,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": False,
    "OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS": True,
    # Logout revokes the calling client's tokens of the person (toegang/oidc/views.py
    # RPInitiatedLogoutView, docs/oidc.md "Logout"), not every client's as django-oauth-toolkit would.
    "OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS": False,
    # The code flow only (no implicit, no hybrid: RFC 9700 §2.1.2), as the validator enforces.
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "tls_client_auth",
    ],
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    # RFC 6750 §2.3 / RFC 9700 §4.3.2: no access token in a URL's query string (logs keep URLs).
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    # RFC 9700 §4: tokens at rest only as their SHA-256 checksum, never in plain text.
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
}
LOGIN_REDIRECT_URL = "portal:home"
LOGIN_URL = "account_login"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

LANGUAGE_CODE = "nl"
LANGUAGES = [("nl", "Nederlands"), ("fr", "Français"), ("de", "Deutsch"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "Europe/Brussels"

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "toegang" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

_redis_url = env("REDIS_URL")
# The cache holds what every worker process must share: the failed-login counts (ACCOUNT_RATE_LIMITS)
# and the "this TOTP code was used" markers of allauth.mfa. toegang.cache.RedisCache is Django's,
# keeping one redis-py client per pool (toegang/cache.py). Without Redis it is Django's database
# cache on the same database (SQLite or PostgreSQL), in the table that migrate creates
# (toegang/portal/migrations/0001_cache_table.py): never a local-memory cache, which each gunicorn
# worker would keep for itself (issue 12, F2). MAX_ENTRIES is far above what the rate limits can
# hold, so an attacker cannot cull the counts away by filling the table.
CACHE_TABLE = "toegang_cache"
CACHES: dict[str, dict[str, object]] = {
    "default": (
        {"BACKEND": "toegang.cache.RedisCache", "LOCATION": _redis_url}
        if _redis_url
        else {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": CACHE_TABLE,
            "OPTIONS": {"MAX_ENTRIES": 1_000_000},
        }
    )
}
# Authorization API: a bearer token that passed django-oauth-toolkit's check is remembered in the
# cache for at most this many seconds (never beyond its expiry); revoking or changing it forgets it at
# once in every worker that shares the cache (toegang/api/auth.py, docs/api.md). Without Redis the cache
# is a database table, whose lookup costs what DOT's own does, so it is off unless set.
API_TOKEN_CACHE_SECONDS = int(env("API_TOKEN_CACHE_SECONDS", "60" if _redis_url else "0"))
# JWT access tokens are verified locally; their deny-list (revoked jti) is in the shared cache above,
# and each worker remembers an answer for this many seconds: a revocation is refused everywhere at
# most that long after it was made (toegang/oidc/jwt_tokens.py, docs/oidc.md).
OIDC_DENY_LIST_LOCAL_SECONDS = float(env("OIDC_DENY_LIST_LOCAL_SECONDS", "2"))
# DPoP (RFC 9449, toegang/oidc/dpop.py): how far a proof's iat may be from now, and whether the
# server requires its nonce (DPoP-Nonce, `use_dpop_nonce`); a nonce stays valid for two windows.
OIDC_DPOP_PROOF_SECONDS = int(env("OIDC_DPOP_PROOF_SECONDS", "60"))
OIDC_DPOP_NONCE_REQUIRED = env_bool("OIDC_DPOP_NONCE_REQUIRED")
OIDC_DPOP_NONCE_SECONDS = int(env("OIDC_DPOP_NONCE_SECONDS", "300"))

# Background work (docs/architecture.md, "Background work"): Django's task framework (django-tasks, the
# backport of Django 6's django.tasks). "database" (default): django-tasks-db, the embedded engine on
# the same database, whose worker `make run` starts; "redis": django-tasks-rq on TOEGANG_REDIS_URL,
# for workers on several hosts (docs/deployment.md).
# "immediate" runs each job in the enqueuing process at once (the unit tests: jobs run on commit).
TASK_ENGINE = env("TASK_ENGINE", "database")
TASK_BACKENDS = {
    "database": "django_tasks_db.DatabaseBackend",
    "redis": "django_tasks_rq.RQBackend",
    "immediate": "django_tasks.backends.immediate.ImmediateBackend",
}
if TASK_ENGINE not in TASK_BACKENDS:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"TOEGANG_TASK_ENGINE must be one of {', '.join(TASK_BACKENDS)}, not {TASK_ENGINE!r}")
if TASK_ENGINE == "redis" and not _redis_url:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("TOEGANG_TASK_ENGINE=redis needs TOEGANG_REDIS_URL")
TASKS = {"default": {"BACKEND": TASK_BACKENDS[TASK_ENGINE], "QUEUES": ["default"]}}
# A CSV import whose heartbeat is older than this is run again (its worker died): delegation.imports.
IMPORT_STALE_SECONDS = int(env("IMPORT_STALE_SECONDS", "60"))
# How long a change waits for a row lock on PostgreSQL before it answers "changed by someone else
# meanwhile; try again" (toegang.locks; 0: wait for ever). Jobs (the CSV import) wait as long as needed.
LOCK_TIMEOUT_MS = int(env("LOCK_TIMEOUT_MS", "5000"))
# django-rq's queues, read by django-tasks-rq's backend and by `manage.py rqworker default` on every
# worker host. A job that runs longer than DEFAULT_TIMEOUT seconds is killed by its worker.
RQ_QUEUES = {"default": {"URL": _redis_url or "redis://127.0.0.1:6379/0", "DEFAULT_TIMEOUT": 3600}}
RQ_SHOW_ADMIN_LINK = False

_email_url = env("EMAIL_URL", "console:")
if _email_url.startswith("console:"):
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
elif _email_url.startswith("locmem:"):
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
else:
    _u = urlparse(_email_url)
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = _u.hostname or "localhost"
    EMAIL_PORT = _u.port or 25
    EMAIL_HOST_USER = unquote(_u.username or "")
    EMAIL_HOST_PASSWORD = unquote(_u.password or "")
    EMAIL_USE_TLS = _u.scheme == "smtp+tls"
    EMAIL_USE_SSL = _u.scheme == "smtps"
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "toegang <no-reply@toegang.invalid>")
# Seconds an SMTP connection may block the mail job (Django's default is no limit at all).
EMAIL_TIMEOUT = int(env("EMAIL_TIMEOUT", "30"))

# The footer's links (README, docs/deployment.md): the operator's own contact, privacy and
# accessibility pages, or else toegang's own (/<lang>/about/...). "{lang}" in a URL becomes the page's
# language (nl, fr, de, en). TOEGANG_CONTACT_EMAIL is the address toegang's own pages give.
CONTACT_URL = env("CONTACT_URL")
PRIVACY_URL = env("PRIVACY_URL")
ACCESSIBILITY_URL = env("ACCESSIBILITY_URL")
CONTACT_EMAIL = env("CONTACT_EMAIL")

SECURE = BASE_URL.startswith("https://")
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
# A form sent without its token (an old tab, cookies refused): the portal's 403 page, translated.
CSRF_FAILURE_VIEW = "toegang.portal.views.errors.csrf_failure"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp 4, toegang/portal/security.py): scripts, styles, fonts and images
# from toegang only (every script is a static file: no inline script, no event-handler attribute, no
# eval), the TOTP QR code as a data: image, no plugins, no <base> elsewhere, no framing, forms to
# toegang only (plus, on the login flow's pages, the relying parties and the external provider).
from csp.constants import NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}
if SECURE:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 31536000
    # The service has its own host name; TOEGANG_HSTS_INCLUDE_SUBDOMAINS=0 where subdomains serve http.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env("HSTS_INCLUDE_SUBDOMAINS", "1") == "1"
    # A request that reached toegang over http (past the proxy, which redirects too) is sent to https;
    # the probes of the orchestrator, inside the network, are not.
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# Submitting the host name to the browsers' HSTS preload list is its owner's decision, not a setting's.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
}

PORTAL_TITLE = _("Access management for enterprises and organisations")
