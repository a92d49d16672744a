#!/usr/bin/env bash
# What a login's SQL costs PostgreSQL on its own, against the bare write transaction that
# `--bin load` divides by: pgbench runs, from the same clients, the bare `UPDATE` and the
# statements a latchkey login sends (see crates/store-postgres/src/sql.rs), without
# latchkey around them: no HTTP, no JSON, no signature, a C client. What it prints is the
# highest `ratio logins/bare_tx` any client could reach with these statements.
#
#   benches/pgbench/ceiling.sh "$LATCHKEY_POSTGRES_URL" [seconds] [rounds]
#
# Prints, per round, the rate of `bare`, `login` (start: put and read; finish: peek, then
# take and append: three statements, as latchkey sends them) and `login-without-peek` (the
# same without the read between the two, the least a stored challenge needs),
# `login-signed-challenge` (a design without stored challenges, for comparison), the
# machine's CPU time per transaction of each, and each login's ratios to that round's
# bare loop: of rates, and of CPU costs (bare/login), as `--bin load` prints them. Each
# statement is its own transaction, as the store sends it. Needs pgbench (Debian:
# postgresql-client) and Linux's /proc/stat.
set -euo pipefail
url=${1:?usage: ceiling.sh URL [seconds] [rounds]}
seconds=${2:-6}
rounds=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
schema="latchkey_ceiling_$$"
trap 'psql "$url" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true' EXIT

# The tables as the store's migrations 1 and 2 leave them, with 1000 accounts of one
# passkey each (a state and an event of the sizes `--bin load` stores), and pgbench's
# table for the bare loop.
psql "$url" -q -v ON_ERROR_STOP=1 <<SQL
CREATE SCHEMA $schema;
SET search_path = $schema;
CREATE TABLE accounts (account TEXT PRIMARY KEY, version BIGINT NOT NULL, state TEXT NOT NULL);
CREATE TABLE events (account TEXT NOT NULL, seq BIGINT NOT NULL, event TEXT NOT NULL,
                     PRIMARY KEY (account, seq));
CREATE TABLE credentials (credential BYTEA PRIMARY KEY, account TEXT NOT NULL);
CREATE TABLE challenges (challenge BYTEA PRIMARY KEY, expires_at BIGINT NOT NULL,
                         binding BYTEA NOT NULL, used BOOLEAN NOT NULL DEFAULT false);
CREATE INDEX challenges_by_deadline ON challenges (expires_at);
CREATE TABLE used_challenges (challenge BYTEA PRIMARY KEY, expires_at BIGINT NOT NULL);
INSERT INTO accounts SELECT 'load-' || i, 1, repeat('s', 413) FROM generate_series(0, 999) i;
INSERT INTO events SELECT 'load-' || i, 1, repeat('e', 230) FROM generate_series(0, 999) i;
INSERT INTO credentials SELECT ('load-' || i)::bytea, 'load-' || i FROM generate_series(0, 999) i;
CREATE TABLE bench (id BIGINT PRIMARY KEY, v BIGINT NOT NULL);
INSERT INTO bench SELECT i, 0 FROM generate_series(0, 999) i;
SQL

# The machine's busy CPU time in ticks of 1/100 s (user, nice, system, irq, softirq: not
# idle, I/O wait or steal), as `--bin load` counts it.
busy() { awk 'NR == 1 { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

run() { # script -> "tx/s us-of-CPU-per-tx"
    local before out after
    before=$(busy)
    out=$(PGOPTIONS="-c search_path=$schema" pgbench -n -M prepared -c 16 -j 2 -T "$seconds" \
        -f "$here/$1" "$url" 2>/dev/null)
    after=$(busy)
    awk -v b="$before" -v a="$after" '
        /^number of transactions actually processed/ { n = $NF }
        /^tps = / { tps = $3 }
        END { printf "%s %.0f\n", tps, (a - b) * 1e4 / n }' <<<"$out"
}

for round in $(seq "$rounds"); do
    # One pgbench transaction is the whole script: a login's three statements are three
    # commits, as the store sends them.
    read -r bare bare_cpu < <(run bare.sql)
    printf 'round %d: bare %.0f tx/s (%d us CPU each)\n' "$round" "$bare" "$bare_cpu"
    for script in login login-without-peek login-signed-challenge; do
        read -r rate cpu < <(run "$script.sql")
        awk -v s="$script" -v b="$bare" -v bc="$bare_cpu" -v l="$rate" -v lc="$cpu" 'BEGIN {
            printf "  %s: %.0f/s (%d us CPU each), ratio %.2f, CPU ratio %.2f\n", s, l, lc, l / b, bc / lc }'
    done
done
