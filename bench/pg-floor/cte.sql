\if :init
SELECT rt.id AS tid, rt.token_hash AS th FROM refresh_tokens rt JOIN (SELECT id FROM sessions WHERE revoked_at IS NULL ORDER BY id OFFSET :client_id LIMIT 1) s ON rt.session_id = s.id WHERE rt.used_at IS NULL LIMIT 1 \gset
\set init 0
\endif
WITH claimed AS (UPDATE refresh_tokens SET used_at = now(), rotation_nonce = 'n' WHERE id = :tid AND used_at IS NULL RETURNING session_id), touched AS (UPDATE sessions SET last_accessed_at = now() WHERE id = (SELECT session_id FROM claimed) AND revoked_at IS NULL RETURNING id), inserted AS (INSERT INTO refresh_tokens (id, token_hash, session_id, parent_id, issued_at, used_at, rotation_nonce, expires_at) SELECT gen_random_uuid(), md5(random()::text) || md5(random()::text), id, :tid, now(), NULL, NULL, now() + interval '30 days' FROM touched RETURNING id, token_hash) SELECT (SELECT id FROM inserted) AS tid, (SELECT token_hash FROM inserted) AS th \gset
