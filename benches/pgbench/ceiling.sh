#!/usr/bin/env bash
# What a login's SQL costs PostgreSQL on its own, against the bare write transaction that
# `--bin load` divides by: pgbench runs, from the same clients, the bare `UPDATE` and the
# statements a latchkey login sends (see crates/store-postgres/src/sql.rs), without
# latchkey around them: no HTTP, no JSON, no signature, a C client. What it prints is the
# highest `ratio logins/bare_tx` any client could reach with these statements.
#
#   benches/pgbench/ceiling.sh "$LATCHKEY_POSTGRES_URL" [seconds] [rounds]
#
# Prints, per round, tx/s of `bare`, `login` (start: put and read; finish: peek, then take
# and append: three statements, as latchkey sends them) and `login-without-peek` (the
# same without the read between the two, the least a stored challenge needs), and each
# login's ratio to that round's bare loop. Each statement is its own transaction, as the
# store sends it. Needs pgbench (Debian: postgresql-client).
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
INSERT INTO accounts SELECT 'load-' || i, 1, repeat('s', 413) FROM generate_series(0, 999) i;
INSERT INTO events SELECT 'load-' || i, 1, repeat('e', 230) FROM generate_series(0, 999) i;
INSERT INTO credentials SELECT ('load-' || i)::bytea, 'load-' || i FROM generate_series(0, 999) i;
CREATE TABLE bench (id BIGINT PRIMARY KEY, v BIGINT NOT NULL);
INSERT INTO bench SELECT i, 0 FROM generate_series(0, 999) i;
SQL

run() { # script files... -> tx/s
    local files=()
    for f in "$@"; do files+=(-f "$here/$f"); done
    PGOPTIONS="-c search_path=$schema" pgbench -n -M prepared -c 16 -j 2 -T "$seconds" \
        "${files[@]}" "$url" 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}

for round in $(seq "$rounds"); do
    bare=$(run bare.sql)
    # One pgbench transaction is the whole script: three statements, three commits.
    login=$(run login.sql)
    without=$(run login-without-peek.sql)
    awk -v r="$round" -v b="$bare" -v l="$login" -v w="$without" 'BEGIN {
        printf "round %d: bare %.0f tx/s, login %.0f/s (ratio %.2f), login-without-peek %.0f/s (ratio %.2f)\n",
            r, b, l, l / b, w, w / b }'
done
