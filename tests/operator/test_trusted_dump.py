"""`kamtool trusted dump` against a server that loaded no trusted table (the reference
cfg: permissions with the address table only) answered Kamailio's bare "No trusted table
(code 500)" as an RPC failure (exit 7); it is a thing that is not there (exit 3), said
as `trusted reload` says it."""

from __future__ import annotations

from tests.support.cli import invoke


def test_trusted_dump_without_a_trusted_table(target):
    r = invoke("--rpc", target.url("http"), "trusted", "dump")
    if target.trusted_table_loaded:
        assert r.exit_code == 0, r.stderr
        return
    assert r.exit_code == 3, (r.stdout, r.stderr)
    assert "the server has no trusted table loaded" in r.stderr
    assert "load_backends" in r.stderr
