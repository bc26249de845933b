#!/usr/bin/env python3
"""Zato SSO data at scale for MySQL/MariaDB, shaped like the fixture, as SQL on stdout.

Load the fixture first (tests/fixtures/zato-3.2-mysql/zato-sso.sql), then this: per user one
user row with an encrypted password, e-mail and TOTP key, one group link, two sessions with
long user agents, two attributes (JSON text, one encrypted), and for every third user a linked
auth and for every fifth a password reset: about 6.5 rows per user.

    python3 benches/gen_mysql.py USERS | mysql DB
"""
import hashlib
import sys

n = int(sys.argv[1])
BATCH = 1000


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def q(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "''") + "'"


def emit(table, cols, rows):
    for i in range(0, len(rows), BATCH):
        chunk = rows[i:i + BATCH]
        print(f"INSERT INTO `{table}` ({','.join(cols)}) VALUES")
        print(",\n".join("(" + ",".join(r) + ")" for r in chunk) + ";")


print("SET NAMES utf8mb4; SET time_zone = '+00:00'; SET foreign_key_checks = 0; SET unique_checks = 0;")
print("START TRANSACTION;")
users, ug, sess, attr, la, prt = [], [], [], [], [], []
groups = [1, 2, 3, 5, 6]
for i in range(1, n + 1):
    uid = 1000 + i
    users.append([str(uid), q(f"zusrgen{i}"), "1", "0", "0", "0",
                  q('{"current_app":"CRM","remote_addr":"10.0.%d.1","user_agent":"Mozilla\\/5.0 (X11; Linux) \\"Zato\\/3.2\\"\\nline2\\ttab"}' % (i % 250)),
                  q("approved"), q("2024-03-15 15:10:25"), q("zusr7f7xpz054d9nz8md48hmwpsasv"),
                  q(f"user.gen.{i}"), q("zato.secf.gAAAAABl9GTl" + md5(str(i)) * 12), "1", "0",
                  q("2024-03-15 15:10:25"), q("2026-03-15 15:10:25"), q("final"), q("2024-03-15 15:10:25"),
                  q(md5("tok" + str(i)) + md5("tok2" + str(i))), q("zato.secf.gAAAAABl9GTl" + md5("e" + str(i)) * 3),
                  q(f"Zażółć {i}"), q("Zażółć"), q(f"Jaźń {i}"), q(f"ZAŻÓŁĆ {i}"), q("ZAŻÓŁĆ"), q(f"JAŹŃ {i}"), "0",
                  q("zato.secf.gAAAAABl9GTl" + md5("t" + str(i)) * 2), q("zato.secf.gAAAAABl9GTl" + md5("l" + str(i))), q("null")])
    ug.append([str(uid), q("null"), str(uid), str(groups[i % 5])])
    for s in (2 * i, 2 * i + 1):
        sess.append([str(1000 + s), q(f"zust{s}{md5(str(s))}"), q("2024-03-16 16:25:47"), q("2024-03-17 16:25:47"),
                     q(f"10.0.{s % 250}.7"),
                     q("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36\r\nX-Zato: %d" % s),
                     q("default"), q(f"user.gen.{i}"), "NULL", q('{"session_state_change_list":[]}'), str(uid)])
    for a, enc in ((2 * i, False), (2 * i + 1, True)):
        value = '"zato.secf.gAAAAABl9GTl%s"' % (md5(str(a)) * 2) if enc else '{"k": "v\\/%d", "arr": [1,2,3]}' % a
        attr.append([str(1000 + a), q("2024-03-15 16:17:57"), "NULL", q("9999-12-31 00:00:00"), "0", "1" if enc else "0",
                     q("json"), q(f"attr{a}"), q(value), q(""), q("null"), q(f"zusrgen{i}"), "NULL"])
    if i % 3 == 0:
        la.append([str(1000 + i), "1", "0", q("2024-03-15 16:17:57"), "NULL", "0", q("basic_auth"), str(1 + i % 3),
                   q("reserved"), q("zato"), q("null"), q(f"zusrgen{i}")])
    if i % 5 == 0:
        prt.append([str(1000 + i), q("2024-03-15 16:17:57"), q("2024-03-16 16:17:57"), q('"{\\"remote_addr\\": [\\"10.0.0.229\\"]}"'),
                    q("prt" + md5(str(i))), q("password_reset"), q(md5("k" + str(i))), q("2024-03-16 16:17:57"), "0", "NULL",
                    "NULL", "0", "NULL", "NULL", q("null"), q(f"zusrgen{i}")])
emit("zato_sso_user", ["id", "user_id", "is_active", "is_internal", "is_super_user", "is_locked", "creation_ctx",
                       "approval_status", "approval_status_mod_time", "approval_status_mod_by", "username", "password",
                       "password_is_set", "password_must_change", "password_last_set", "password_expiry", "sign_up_status",
                       "sign_up_time", "sign_up_confirm_token", "email", "display_name", "first_name", "last_name",
                       "display_name_upper", "first_name_upper", "last_name_upper", "is_totp_enabled", "totp_key",
                       "totp_label", "opaque1"], users)
emit("zato_sso_user_group", ["id", "opaque1", "user_id", "group_id"], ug)
emit("zato_sso_session", ["id", "ust", "creation_time", "expiration_time", "remote_addr", "user_agent", "auth_type",
                          "auth_principal", "ext_session_id", "opaque1", "user_id"], sess)
emit("zato_sso_attr", ["id", "creation_time", "last_modified", "expiration_time", "is_session_attr", "is_encrypted",
                       "serial_method", "name", "value", "_ust_string", "opaque1", "user_id", "ust"], attr)
emit("zato_sso_linked_auth", ["id", "is_active", "is_internal", "creation_time", "last_modified", "has_ext_principal",
                              "auth_type", "auth_id", "auth_principal", "auth_source", "opaque1", "user_id"], la)
emit("zato_sso_password_reset", ["id", "creation_time", "expiration_time", "creation_ctx", "token", "type_", "reset_key",
                                 "reset_key_exp_time", "has_been_accessed", "access_time", "access_ctx", "is_password_reset",
                                 "password_reset_time", "password_reset_ctx", "opaque1", "user_id"], prt)
print("COMMIT;")
