"""`kamtool serve`'s /metrics judges the health rules with the [monitor] thresholds of its
configuration file, as `kamtool diagnose` and the monitor do (issue #15 item 1)."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.kamtool_proxy import KamtoolProxy


def health(proxy: KamtoolProxy) -> dict[str, float]:
    r = httpx.get(f"http://127.0.0.1:{proxy.http_port}/metrics", timeout=10)
    assert r.status_code == 200
    return {
        s.labels.get("rule", ""): s.value
        for fam in text_string_to_metric_families(r.text)
        if fam.name == "kamtool_health"
        for s in fam.samples
    }


def test_monitor_thresholds_reach_metrics(tmp_path):
    with KamtoolProxy(tmp_path / "default", seed=False) as proxy:
        assert health(proxy)["transactions"] == 0  # defaults: 1000 / 10000 in memory
    # an idle proxy has no transaction in memory: 0 >= 0 is CRITICAL with these limits
    monitor = "\n[monitor]\ntransactions_warning = 0\ntransactions_critical = 0\n"
    with KamtoolProxy(tmp_path / "strict", seed=False, proxy_toml=monitor) as proxy:
        assert health(proxy)["transactions"] == 2
