"""No test passes by not running: a missing prerequisite fails (tests/support/require.py),
and in CI the report hook of tests/conftest.py turns any other skip (a marker, a plugin)
into a failure that keeps its reason. Tested on the hook itself with the reports pytest
would hand it."""

from __future__ import annotations

import pytest
from _pytest.reports import TestReport

from tests.conftest import pytest_runtest_makereport
from tests.support.require import need_module, unavailable


class _Outcome:
    def __init__(self, report: TestReport) -> None:
        self.report = report

    def get_result(self) -> TestReport:
        return self.report


def _through_hook(report: TestReport) -> TestReport:
    gen = pytest_runtest_makereport(None, None)  # (a hookwrapper: a generator)
    next(gen)
    with pytest.raises(StopIteration):
        gen.send(_Outcome(report))
    return report


def _skipped(**extra) -> TestReport:
    report = TestReport("t.py::test", ("t.py", 1, "test"), {}, "skipped",
                        ("t.py", 1, "Skipped: no sipp here"), "call")  # fmt: skip
    for name, value in extra.items():
        setattr(report, name, value)
    return report


def test_a_skip_is_a_failure_in_ci_with_its_reason(monkeypatch):
    monkeypatch.setenv("CI", "true")
    report = _through_hook(_skipped())
    assert report.outcome == "failed"
    assert report.longrepr == (
        "skipped in CI, where every prerequisite is installed: Skipped: no sipp here"
    )
    xfailed = _through_hook(_skipped(wasxfail="known bug"))  # an xfail stays one
    assert xfailed.outcome == "skipped"


def test_off_ci_the_hook_leaves_reports_alone(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    assert _through_hook(_skipped()).outcome == "skipped"


def test_a_missing_prerequisite_fails_and_says_what_and_how():
    with pytest.raises(pytest.fail.Exception, match=r"missing.*sipp is not installed"):
        unavailable("sipp is not installed (apt-get install sip-tester)")
    with pytest.raises(pytest.fail.Exception, match=r"no_such_module_here is not installed"):
        need_module("no_such_module_here", "pip install nothing")
