-- A latchkey login's statements as the PostgreSQL store sends them, each its own transaction.
\set n random(0, 999)
\set c random(1, 9223372036854775807)
-- start: put the challenge without waiting for the disk, and read the account.
WITH lax AS (SELECT set_config('synchronous_commit', 'off', true)), put AS (INSERT INTO challenges (challenge, expires_at, binding) SELECT int8send(:c) || int8send(:n), 0, '\x00'::bytea FROM lax ON CONFLICT (challenge) DO NOTHING) SELECT a.version, a.state FROM (VALUES (1)) AS one (x) LEFT JOIN accounts a ON a.account = 'load-' || :n;
-- finish, 1: read the challenge with the credential's owner and its state.
SELECT ch.used, ch.expires_at, ch.binding, o.account, o.version, o.state FROM challenges ch LEFT JOIN (SELECT c.account, a.version, a.state FROM credentials c LEFT JOIN accounts a ON a.account = c.account WHERE c.credential = ('load-' || :n)::bytea) o ON true WHERE ch.challenge = int8send(:c) || int8send(:n);
-- finish, 2: take the challenge and append the login's event, in one statement. pgbench
-- keeps no state between transactions, so the version check is `version + 1`.
WITH prior AS (SELECT used, expires_at FROM challenges WHERE challenge = int8send(:c) || int8send(:n) FOR UPDATE), taken AS (UPDATE challenges SET used = true WHERE challenge = int8send(:c) || int8send(:n) AND EXISTS (SELECT 1 FROM prior WHERE NOT prior.used) RETURNING 1), current AS (SELECT version FROM accounts WHERE account = 'load-' || :n AND EXISTS (SELECT 1 FROM taken) FOR UPDATE), appended AS (UPDATE accounts SET version = version + 1, state = repeat('t', 413) WHERE account = 'load-' || :n AND EXISTS (SELECT 1 FROM current) RETURNING version), added AS (INSERT INTO events (account, seq, event) SELECT 'load-' || :n, version, repeat('e', 230) FROM appended) SELECT (SELECT count(*) FROM taken), (SELECT version FROM appended), (SELECT expires_at FROM prior), (SELECT version FROM current);
