-- A login without stored challenges, for comparison (latchkey does not work this way): the
-- challenge would be signed by the service, and its single use kept by inserting it into
-- a table of used ones at the finish. A read to start, a read and one write to finish.
\set n random(0, 999)
\set c random(1, 9223372036854775807)
SELECT a.version, a.state FROM accounts a WHERE a.account = 'load-' || :n;
SELECT c.account, a.version, a.state FROM credentials c LEFT JOIN accounts a ON a.account = c.account WHERE c.credential = ('load-' || :n)::bytea;
WITH taken AS (INSERT INTO used_challenges (challenge, expires_at) VALUES (int8send(:c) || int8send(:n), 0) ON CONFLICT DO NOTHING RETURNING 1), appended AS (UPDATE accounts SET version = version + 1, state = repeat('t', 413) WHERE account = 'load-' || :n AND EXISTS (SELECT 1 FROM taken) RETURNING version), added AS (INSERT INTO events (account, seq, event) SELECT 'load-' || :n, version, repeat('e', 230) FROM appended) SELECT (SELECT count(*) FROM taken), (SELECT version FROM appended);
