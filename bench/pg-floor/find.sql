\if :init
SELECT rt.id AS tid, rt.token_hash AS th FROM refresh_tokens rt JOIN (SELECT id FROM sessions WHERE revoked_at IS NULL ORDER BY id OFFSET :client_id LIMIT 1) s ON rt.session_id = s.id WHERE rt.used_at IS NULL LIMIT 1 \gset
\set init 0
\endif
SELECT rt.*, s.*, u.* FROM refresh_tokens rt LEFT JOIN sessions s ON rt.session_id = s.id LEFT JOIN users u ON s.user_id = u.id WHERE rt.token_hash = :th LIMIT 1;
