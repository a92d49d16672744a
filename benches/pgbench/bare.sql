-- The bare write transaction `--bin load` measures: one single-row update.
\set id random(0, 999)
UPDATE bench SET v = v + 1 WHERE id = :id;
