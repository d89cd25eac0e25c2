# The two commands a newcomer needs are `make dev` and `make test`; the rest are for maintainers.
.PHONY: dev test lint fmt sqlx-prepare openapi build deploy deploy-database db-stop bench load

ENV ?= dev

dev: ## Serve the whole API at http://127.0.0.1:9000 (finds or starts PostgreSQL, migrates)
	scripts/dev.sh

test: ## Run every test against real PostgreSQL and the real binaries
	scripts/test.sh

bench: ## Build in release, then measure cold starts, warm load, memory and sizes (ARGS=--quick)
	scripts/bench.sh $(ARGS)

load: ## Warm throughput of the products function under wrk (by id, list of 50)
	scripts/load.sh

lint: ## Formatting and clippy, as CI runs them
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

fmt:
	cargo fmt --all

sqlx-prepare: ## Refresh the committed sqlx offline data after changing a query
	scripts/sqlx-prepare.sh

openapi: ## Regenerate openapi.json from the code (a test fails while it is out of date)
	cargo run --quiet --locked -p api --bin openapi

build: ## Release binaries for Lambda (arm64), as `sam build` makes them
	cargo lambda build --release --arm64

deploy: ## Build and deploy with SAM, no prompts: make deploy ENV=dev|prod (parameters: scripts/deploy.sh)
	scripts/deploy.sh $(ENV)

deploy-database: ## The stage's database stack (VPC, Aurora, RDS Proxy): make deploy-database ENV=dev|prod
	scripts/deploy-database.sh $(ENV)

db-stop: ## Stop the private PostgreSQL cluster that make dev/test may have started
	. scripts/postgres.sh && _as_pg_user "$$(_pg_bin pg_ctl)" -D "$$PRIVATE_PG_DIR/data" stop
