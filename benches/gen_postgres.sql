-- Zato SSO data at scale on PostgreSQL, shaped like the fixture: the fixture's schema (load
-- tests/fixtures/zato-3.2-postgresql/zato-sso.sql first), then per user one user row with an
-- encrypted password, e-mail and TOTP key, one group link, two sessions with long user agents,
-- two attributes (JSON text, one encrypted), and for every third user a linked auth and for
-- every fifth a password reset: about 6.5 rows per user.
--
--   psql -v users=100000 -f benches/gen_postgres.sql DB
\set ON_ERROR_STOP 1
BEGIN;
INSERT INTO zato_sso_user (id, user_id, is_active, is_internal, is_super_user, is_locked, creation_ctx,
    approval_status, approval_status_mod_time, approval_status_mod_by, username, password, password_is_set,
    password_must_change, password_last_set, password_expiry, sign_up_status, sign_up_time,
    sign_up_confirm_token, email, display_name, first_name, last_name, display_name_upper,
    first_name_upper, last_name_upper, is_totp_enabled, totp_key, totp_label, opaque1)
SELECT 1000 + i, 'zusrgen' || i, true, false, false, false,
    '{"current_app":"CRM","remote_addr":"10.0.' || (i % 250) || '.1","user_agent":"Mozilla\/5.0 (X11; Linux) \"Zato\/3.2\"\nline2\ttab"}',
    'approved', timestamp '2024-03-15 15:10:25.413136' + i * interval '1 second', 'zusr7f7xpz054d9nz8md48hmwpsasv',
    'user.gen.' || i, 'zato.secf.gAAAAABl9GTl' || repeat(md5(i::text), 12), true, false,
    timestamp '2024-03-15 15:10:25.413136', timestamp '2026-03-15 15:10:25.413136', 'final',
    timestamp '2024-03-15 15:10:25.413136', '\x' || md5('tok' || i) || md5('tok2' || i),
    'zato.secf.gAAAAABl9GTl' || repeat(md5('e' || i), 3), 'Zażółć ' || i, 'Zażółć', 'Jaźń ' || i,
    'ZAŻÓŁĆ ' || i, 'ZAŻÓŁĆ', 'JAŹŃ ' || i, false, 'zato.secf.gAAAAABl9GTl' || repeat(md5('t' || i), 2),
    'zato.secf.gAAAAABl9GTl' || md5('l' || i), 'null'
FROM generate_series(1, :users) i;
INSERT INTO zato_sso_user_group SELECT 1000 + i, 'null', 1000 + i, (ARRAY[1, 2, 3, 5, 6])[1 + i % 5] FROM generate_series(1, :users) i;
INSERT INTO zato_sso_session SELECT 1000 + s.n, 'zust' || s.n || md5(s.n::text),
    timestamp '2024-03-15 16:25:47.878271' + s.n * interval '1 ms', timestamp '2024-03-16 16:25:47.878271',
    '10.0.' || (s.n % 250) || '.7',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36' || chr(13) || chr(10) || 'X-Zato: ' || s.n,
    'default', 'user.gen.' || u.i, NULL, '{"session_state_change_list":[]}', 1000 + u.i
FROM generate_series(1, :users) u(i), LATERAL (VALUES (2 * u.i), (2 * u.i + 1)) s(n);
INSERT INTO zato_sso_attr SELECT 1000 + a.n, timestamp '2024-03-15 16:17:57.342857', NULL, timestamp '9999-12-31 00:00:00',
    false, a.enc, 'json', 'attr' || a.n,
    CASE WHEN a.enc THEN '"zato.secf.gAAAAABl9GTl' || repeat(md5(a.n::text), 2) || '"' ELSE '{"k": "v\/' || a.n || '", "arr": [1,2,3]}' END,
    '', 'null', 'zusrgen' || u.i, NULL
FROM generate_series(1, :users) u(i), LATERAL (VALUES (2 * u.i, false), (2 * u.i + 1, true)) a(n, enc);
INSERT INTO zato_sso_linked_auth SELECT 1000 + i, true, false, timestamp '2024-03-15 16:17:57.342857', NULL, false,
    'basic_auth', 1 + i % 3, 'reserved', 'zato', 'null', 'zusrgen' || i
FROM generate_series(3, :users, 3) i;
INSERT INTO zato_sso_password_reset SELECT 1000 + i, timestamp '2024-03-15 16:17:57.342857', timestamp '2024-03-16 16:17:57.342857',
    '"{\"remote_addr\": [\"10.0.0.229\"]}"', 'prt' || md5(i::text), 'password_reset', md5('k' || i),
    timestamp '2024-03-16 16:17:57.342857', false, NULL, NULL, false, NULL, NULL, 'null', 'zusrgen' || i
FROM generate_series(5, :users, 5) i;
SELECT setval('zato_sso_user_id_seq', 1000 + :users);
SELECT setval('zato_sso_sid_seq', 1001 + 2 * :users);
SELECT setval('zato_sso_attr_seq', 1001 + 2 * :users);
SELECT setval('zato_sso_ug_seq', 1000 + :users);
COMMIT;
ANALYZE;
