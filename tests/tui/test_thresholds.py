"""Health thresholds from the [monitor] TOML section and --threshold flags, applied by
`kamtool monitor --once` and by the live app, over the FakeSource captures with two
failed SIP transactions added (3.6 % errors in 55 SIP messages; the captures' own five
``sl:500_replies`` answered JSON-RPC calls), 3 transactions in memory, 5 % of shared
memory used."""

from __future__ import annotations

import pytest

from kamtool.errors import ConfigError
from kamtool.tui.capture import FakeSource
from kamtool.tui.health import Thresholds
from tests.support.cli import invoke
from tests.tui.fake import CAPTURES, make_app, settle


@pytest.fixture
def fake(monkeypatch):
    source = FakeSource(CAPTURES)
    captured = source.stats
    monkeypatch.setattr(source, "stats", lambda: {**captured(), "tmx:5xx_transactions": 2})
    monkeypatch.setattr("kamtool.tui.source.rpc_source", lambda url, **kw: source)
    return source


def levels(*args: str, config: str | None = None, tmp_path=None) -> tuple[int, dict]:
    extra: list[str] = []
    if config is not None:
        path = tmp_path / "kamtool.toml"
        path.write_text(config)
        extra = ["--config", str(path)]
    r = invoke(*extra, "--json", "monitor", "--once", *args)
    doc = r.json()
    if r.exit_code:
        return r.exit_code, doc["error"]
    return 0, {h["name"]: h["level"] for h in doc["health"]}


def test_defaults_judge_the_sample_healthy(fake):
    status, got = levels()
    assert status == 0
    assert (got["error rate"], got["transactions"], got["shared memory"]) == ("OK",) * 3


def test_monitor_section_sets_thresholds(fake, tmp_path):
    config = "[monitor]\nerror_ratio_warning = 0.03\nshm_warning = 0.04\nshm_critical = 0.5\n"
    status, got = levels(config=config, tmp_path=tmp_path)
    assert status == 0
    assert (got["error rate"], got["shared memory"], got["transactions"]) == (
        "WARNING", "WARNING", "OK",
    )  # fmt: skip


def test_flags_win_over_the_section(fake, tmp_path):
    config = "[monitor]\ntransactions_warning = 2\ninterval = 5\n"
    status, got = levels(config=config, tmp_path=tmp_path)
    assert (status, got["transactions"]) == (0, "WARNING")
    status, got = levels("--threshold", "transactions_warning=10",
                         config=config, tmp_path=tmp_path)  # fmt: skip
    assert (status, got["transactions"]) == (0, "OK")
    status, got = levels("--threshold", "transactions_warning=1",
                         "--threshold", "transactions_critical=3")  # fmt: skip
    assert (status, got["transactions"]) == (0, "CRITICAL")
    status, got = levels("--threshold", "error_ratio_warning=3%",
                         "--threshold", "min_messages=200")  # fmt: skip
    assert got["error rate"] == "OK"  # 55 messages: too few to judge now
    status, got = levels("--threshold", "error_ratio_warning=3%")
    assert got["error rate"] == "WARNING"


@pytest.mark.parametrize(
    "config,message",
    [
        ("[monitor]\nshm_limit = 0.5\n", "unknown threshold 'shm_limit'"),
        ("[monitor]\nshm_warning = 1.5\n", "shm_warning is a fraction"),
        ("[monitor]\nshm_warning = 0.99\n", "shm_warning is above shm_critical"),
        ("[monitor]\ntransactions_warning = 1.5\n", "not a whole number"),
        ('[monitor]\nerror_ratio_warning = "high"\n', "not a number"),
        ('[monitor]\ninterval = "fast"\n', "interval"),
    ],
)
def test_bad_monitor_section_is_a_config_error(fake, tmp_path, config, message):
    status, error = levels(config=config, tmp_path=tmp_path)
    assert status == 8 and error["code"] == "config_error"
    assert message in error["message"] and "[monitor]" in error["message"]


@pytest.mark.parametrize(
    "flag", ["shm_warning", "shm_warning=x", "nope=1", "min_messages=-1", "shm_critical=0.5"]
)
def test_bad_threshold_flag_is_a_usage_error(fake, flag):
    status, error = levels("--threshold", flag)
    assert status == 2 and error["code"] == "bad_input"


def test_thresholds_values_keep_the_types():
    t = Thresholds().with_values({"min_messages": "50", "shm_warning": "70%"})
    assert (t.min_messages, t.shm_warning, t.shm_critical) == (50, 0.7, 0.95)
    with pytest.raises(ConfigError):
        Thresholds().with_values({"min_messages": True})


@pytest.mark.anyio
async def test_live_app_uses_its_thresholds():
    app, _, _ = make_app()
    app.limits = Thresholds().with_values({"shm_warning": 0.01, "shm_critical": 0.04})
    async with app.run_test() as pilot:
        await settle(pilot)
        assert {c.name: c.level for c in app.checks}["shared memory"] == "CRITICAL"
    default_app, _, _ = make_app()
    async with default_app.run_test() as pilot:
        await settle(pilot)
        assert {c.name: c.level for c in default_app.checks}["shared memory"] == "OK"
