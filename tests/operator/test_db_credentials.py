"""Wrong database credentials on MariaDB and PostgreSQL: exit 5 with a hint about the
user and password. A PostgreSQL role that does not exist got the hint "kamtool dbctl
create" (its message says "does not exist"), a wrong MariaDB password no hint at all."""

from __future__ import annotations

import pytest

from tests.support.cli import invoke


@pytest.mark.mysql
def test_wrong_mariadb_password(tmp_path):
    from tests.support.databases import database

    with database("mysql", tmp_path) as url:
        wrong = url.replace("mysql://root@", "mysql://root:wrong-password@", 1)
        assert wrong != url, url
        r = invoke("--db", wrong, "--json", "show")
    assert r.exit_code == 5, (r.stdout, r.stderr)
    err = r.json()["error"]
    assert "wrong-password" not in r.stdout and "user and password" in err["hint"], err


@pytest.mark.postgres
def test_unknown_postgres_role(tmp_path):
    from tests.support.databases import database

    with database("postgres", tmp_path) as url:
        host = url.split("@", 1)[1]
        r = invoke("--db", f"postgres://no_such_role_kt:pw@{host}", "--json", "show")
    assert r.exit_code == 5, (r.stdout, r.stderr)
    err = r.json()["error"]
    assert "user and password" in err["hint"] and "dbctl create --users" in err["hint"], err
