"""`kamtool ul` against a Kamailio 5.6 whose usrloc keys AoRs with their domain
(``use_domain 1``, multi-domain servers): ``ul add|show|rm 7201`` sent "7201", which
Kamailio refuses ("Domain missing in AOR"); kamctl adds SIP_DOMAIN to a bare user, and
so does kamtool now with its default domain (a server with use_domain 0 drops it)."""

from __future__ import annotations

import pytest

from tests.support.cli import invoke
from tests.support.kamailio import CONFIG, Kamailio, require_kamailio

pytestmark = pytest.mark.kamailio


@pytest.fixture(scope="module")
def kamailio_use_domain(tmp_path_factory):
    require_kamailio()
    base = tmp_path_factory.mktemp("usedomain")
    old = 'modparam("usrloc", "use_domain", 0)'
    text = CONFIG.read_text()
    assert old in text
    cfg = base / "kamailio-use-domain.cfg"
    cfg.write_text(text.replace(old, 'modparam("usrloc", "use_domain", 1)'))
    with Kamailio(base, seed=False, config=cfg) as k:
        yield k


def test_bare_user_gets_the_default_domain(kamailio_use_domain):
    kt = ("--rpc", kamailio_use_domain.rpc_http_url, "--domain", "example.com")
    r = invoke(*kt, "ul", "add", "7201", "sip:7201@127.0.0.1:5099")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    shown = invoke(*kt, "--json", "ul", "show", "7201")
    assert shown.exit_code == 0, shown.stderr
    assert [(row["aor"], row["contact"]) for row in shown.json()] == [
        ("7201@example.com", "sip:7201@127.0.0.1:5099")
    ]
    assert invoke(*kt, "--json", "ul", "show", "7201@example.com").json() == shown.json()
    assert invoke(*kt, "ul", "rm", "sip:7201@example.com").exit_code == 0
    gone = invoke(*kt, "--json", "ul", "show", "7201")
    assert gone.exit_code == 3 or gone.json() == [], gone.stdout
