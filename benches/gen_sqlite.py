#!/usr/bin/env python3
"""Generates Zato SSO data at scale in a SQLite database, for benchmarks (not a test fixture).

    python3 benches/gen_sqlite.py USERS OUT.db

It copies the real Zato 3.2 fixture (tests/fixtures/zato-3.2-sqlite) and adds USERS users
made from the fixture's own rows (encrypted passwords, JSON text, long user agents), each with
one group link, two sessions and two attributes: about 5 rows per user across the tables.
"""
import os
import shutil
import sqlite3
import sys

users = int(sys.argv[1])
out = sys.argv[2]
here = os.path.dirname(os.path.abspath(__file__))
shutil.copy(os.path.join(here, "..", "tests", "fixtures", "zato-3.2-sqlite", "server", "zato.db"), out)
db = sqlite3.connect(out)


def cols(table):
    return [r[1] for r in db.execute(f"PRAGMA table_info({table})")]


def clone(table, template_where, count_expr, overrides):
    """INSERT INTO table SELECT from a template row, once per generated number."""
    names = cols(table)
    exprs = [overrides.get(c, c) for c in names]
    db.execute(
        f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count_expr}) "
        f"INSERT INTO {table} ({', '.join(names)}) "
        f"SELECT {', '.join(exprs)} FROM n, (SELECT * FROM {table} WHERE {template_where})"
    )


base = 1_000_000
clone("zato_sso_user", "id = 2", users, {
    "id": f"{base} + i",
    "user_id": "'zusrgen' || i",
    "username": "'user.gen.' || i",
    "sign_up_confirm_token": "'tok' || i || '-' || hex(randomblob(16))",
    "display_name": "'Generated User ' || i",
    "display_name_upper": "'GENERATED USER ' || i",
})
clone("zato_sso_user_group", "id = (SELECT min(id) FROM zato_sso_user_group)", users, {
    "id": f"{base} + i",
    "user_id": f"{base} + i",
})
for k in (0, 1):
    clone("zato_sso_session", "id = (SELECT min(id) FROM zato_sso_session)", users, {
        "id": f"{base} + 2 * i + {k}",
        "ust": f"'zustgen' || i || '-{k}'",
        "user_id": f"{base} + i",
    })
    clone("zato_sso_attr", "id = 4", users, {
        "id": f"{base} + 2 * i + {k}",
        "user_id": "'zusrgen' || i",
        "name": f"'attr.{k}'",
    })
db.commit()
total = sum(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in
            [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'zato_sso_%'")])
print(f"{out}: {users} generated users, {total} rows in the SSO tables, {os.path.getsize(out)} bytes")
