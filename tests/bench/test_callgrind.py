"""bench/callgrind.py's bookkeeping: proxy_core's marks, callgrind's dumps, harness subtraction.

valgrind itself is not run here (minutes per run); the parsing is what can go wrong quietly.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "callgrind.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_callgrind", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


cg = _load()


def test_marks_from_proxy_core_output():
    out = "MARK OPTIONS\t2000\tmsg\nOPTIONS  17710 msg/s\nMARK call (5 msgs)\t500\tcall\n"
    assert cg.parse_marks(out) == [("OPTIONS", 2000, "msg"), ("call (5 msgs)", 500, "call")]


def test_dump_totals_in_dump_order(tmp_path):
    for n, total in ((2, 300), (10, 1000), (1, 200)):
        (tmp_path / f"cg.out.{n}").write_text(f"# callgrind format\nevents: Ir\nsummary: {total}\n")
    (tmp_path / "cg.out").write_text("summary: 999999\n")  # the dump at exit: not a scenario
    files = list(tmp_path.glob("cg.out*"))
    assert cg.dump_totals(files) == [200, 300, 1000]


def test_per_message_subtracts_the_harness():
    marks = [("OPTIONS", 100, "msg"), ("call (5 msgs)", 10, "call"),
             ("call (5 msgs) harness", 10, "call")]  # fmt: skip
    rows = cg.per_message(marks, [30_000, 50_000, 5_000])
    assert rows == [
        {"scenario": "OPTIONS", "unit": "msg", "count": 100, "instructions": 300},
        {"scenario": "call (5 msgs)", "unit": "call", "count": 10, "instructions": 4500},
    ]
    with pytest.raises(RuntimeError):
        cg.per_message(marks, [1, 2])


def test_another_tree_gets_a_copy_next_to_a_link(tmp_path):
    root = Path(__file__).resolve().parents[2]
    script = cg.bench_script(root, tmp_path)
    assert script == tmp_path / "tree" / "bench" / "proxy_core.py" and script.is_file()
    assert (tmp_path / "tree" / "kamtool").resolve() == (root / "kamtool").resolve()
    assert cg.bench_script(None, tmp_path) == root / "bench" / "proxy_core.py"
    with pytest.raises(SystemExit):
        cg.bench_script(tmp_path / "nowhere", tmp_path / "x")
