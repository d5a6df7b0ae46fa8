# toegang — one self-documenting task runner. `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
export DJANGO_SETTINGS_MODULE := toegang.settings

.PHONY: help install run totp oidc-peer demo-rp guide-images test lint types check-migrations messages compilemessages pytest bench bench-full clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt demo/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the pinned dependencies

# The public URL (e-mail links, the OpenID Connect issuer) follows HOST:PORT unless TOEGANG_BASE_URL is set.
run: export TOEGANG_BASE_URL ?= http://$(HOST):$(PORT)
run: $(STAMP) compilemessages ## serve http://127.0.0.1:8000 (HOST=, PORT=) with demo data (gunicorn, task worker, scheduler; SQLite under var/)
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py demo_load --if-empty
	$(BIN)/python manage.py oidc_key
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python deploy/run.py --bind $(HOST):$(PORT) --workers 2

totp: $(STAMP) ## print the current app code of the demo managers
	@$(BIN)/python manage.py demo_totp

# Demo accounts of the external provider: the INSZ of demo person sb, an INSZ nobody has, no INSZ.
OIDC_PEER_ACCOUNTS ?= {"sb": {"ssin": "87063006432", "given_name": "Sofie", "family_name": "Subbeheer"}, \
  "onbekend": {"ssin": "77070777797"}, "zonder-insz": {"given_name": "Zonder", "family_name": "INSZ"}}

oidc-peer: ## a demo external login provider (itsme stand-in) on 127.0.0.1:9000, beside `make run`
	@command -v npm >/dev/null || { echo "oidc-peer needs Node.js (20 or later) and npm"; exit 1; }
	test -d tests/oidc-peer/node_modules || (cd tests/oidc-peer && npm ci --no-audit --no-fund)
	OIDC_PEER_ACCOUNTS='$(OIDC_PEER_ACCOUNTS)' node tests/oidc-peer/provider.mjs 9000

# The demo relying party (demo/): its own pinned dependencies in the same .venv, its OAuth client
# registered idempotently in toegang's database (that of `make run`, which must be running).
DEMO_RP_PORT ?= 8001
DEMO_RP_ISSUER ?= http://$(HOST):$(PORT)
DEMO_RP_CLIENT_ID ?= demo-rp
DEMO_RP_CLIENT_SECRET ?= demo-rp-secret
DEMO_STAMP := $(VENV)/.demo-installed

$(DEMO_STAMP): demo/requirements.txt | $(STAMP)
	$(BIN)/pip install --quiet -r demo/requirements.txt
	touch $(DEMO_STAMP)

demo-rp: $(STAMP) $(DEMO_STAMP) ## the demo application E-loket (demo) on http://127.0.0.1:8001, beside `make run`
	$(BIN)/python manage.py oidc_client --application eloket --client-id $(DEMO_RP_CLIENT_ID) \
	  --redirect-uri http://127.0.0.1:$(DEMO_RP_PORT)/callback --post-logout-redirect-uri http://127.0.0.1:$(DEMO_RP_PORT)/ \
	  --secret $(DEMO_RP_CLIENT_SECRET)
	DEMO_RP_ISSUER=$(DEMO_RP_ISSUER) DEMO_RP_PORT=$(DEMO_RP_PORT) DEMO_RP_CLIENT_ID=$(DEMO_RP_CLIENT_ID) \
	  DEMO_RP_CLIENT_SECRET=$(DEMO_RP_CLIENT_SECRET) \
	  $(BIN)/gunicorn demo.wsgi:app --bind 127.0.0.1:$(DEMO_RP_PORT) --workers 1 --threads 4 --access-logfile -

guide-images: $(STAMP) compilemessages ## retake the user guides' screenshots (docs/guide/img/<lang>/) with the browser walks, in nl, fr and de
	E2E_GUIDE_IMAGES=1 $(BIN)/pytest -q -m e2e tests/e2e/test_walk_steps_1_to_5.py tests/e2e/test_step6.py tests/e2e/test_demo_application.py

lint: $(STAMP) ## ruff lint and format check, the import layers contract (pyproject's [tool.importlinter])
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

types: $(STAMP) ## mypy with django-stubs
	$(BIN)/mypy toegang tests

check-migrations: $(STAMP) ## models and migrations agree
	mkdir -p var
	$(BIN)/python manage.py makemigrations --check --dry-run

messages: $(STAMP) ## extract translatable text into locale/{nl,fr,de,en}
	$(BIN)/python manage.py makemessages --no-obsolete --no-location -l nl -l fr -l de -l en --ignore '.venv/*' --ignore 'var/*' --ignore 'tests/*'

compilemessages: $(STAMP) ## compile the translation catalogues
	@command -v msgfmt >/dev/null || { echo "msgfmt is missing: install GNU gettext (apt-get install -y gettext)"; exit 1; }
	$(BIN)/python manage.py compilemessages --ignore '.venv/*' -v0

PYTEST_ARGS ?=
pytest: $(STAMP) ## the test suite (PYTEST_ARGS: more pytest options, e.g. -m "not e2e")
	mkdir -p var/static
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint types check-migrations compilemessages pytest ## every check and test (what CI runs)

# Benchmarks (docs/performance.md). `make bench`: every script in a small configuration (a few
# minutes), results under bench/results/. `make bench-full`: issue 7's sizes on PostgreSQL
# (TOEGANG_DATABASE_URL or BENCH_PG: a server where databases may be created and dropped). The full
# data set (generate_data at BENCH_SCALE, ~4 min) is generated into BENCH_FULL_DB on the first run and
# kept for the next ones (DROP DATABASE it to start again); the users list, the authorization API and
# the worker memory read it. The others build their own scratch databases of the issue's sizes.
BENCH_PG ?= $(or $(TOEGANG_DATABASE_URL),postgres://postgres@127.0.0.1:5432/test)
BENCH_SCALE ?= 1.0
BENCH_FULL_DB ?= $(dir $(BENCH_PG))toegang_bench_full

bench: $(STAMP) ## every benchmark, small and quick (minutes): tables printed, JSON in bench/results/
	$(BIN)/python bench/password_login.py --logins 30
	$(BIN)/python bench/csv_import.py --rows 2000
	$(BIN)/python bench/mail_outbox.py --mails 2000 --deliver 500
	$(BIN)/python bench/users_list.py --users 5000 --noise 1000 --runs 30
	$(BIN)/python bench/authz_api.py --persons 5000 --grants 10000 --duration 5 --warmup 1
	$(BIN)/python bench/generate.py --scale 0.01
	$(BIN)/python bench/token_endpoint.py --duration 5 --pool 1500
	$(BIN)/python bench/memory.py --scale 0.01 --rounds 100

bench-full: $(STAMP) ## every benchmark at full size on PostgreSQL (TOEGANG_DATABASE_URL or BENCH_PG)
	$(BIN)/python bench/generate.py --scale $(BENCH_SCALE) --database-url $(BENCH_FULL_DB)
	$(BIN)/python bench/users_list.py --database-url $(BENCH_FULL_DB) --runs 100
	$(BIN)/python bench/authz_api.py --database-url $(BENCH_FULL_DB) --duration 20 --connections 4
	$(BIN)/python bench/memory.py --database-url $(BENCH_FULL_DB) --rounds 500
	$(BIN)/python bench/token_endpoint.py --database-url $(BENCH_FULL_DB) --duration 20 --pool 6000
	TOEGANG_DATABASE_URL=$(BENCH_PG) $(BIN)/python bench/csv_import.py --rows 10000
	TOEGANG_DATABASE_URL=$(BENCH_PG) $(BIN)/python bench/mail_outbox.py --mails 10000 --deliver 2000
	TOEGANG_DATABASE_URL=$(BENCH_PG) $(BIN)/python bench/password_login.py --logins 200

clean: ## remove the virtualenv and local data
	rm -rf $(VENV) var
