"""scripts/capture-reference re-captures tests/reference/kamailio-5.6 from a real
Kamailio 5.6 (issue 13, item 1): run into a temporary directory, every re-captured file
has the shape of the committed one (JSON types and keys; the same kamcmd/kamctl commands
with the same kind of output; the same SQLite storage types)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.reference import REFERENCE, shape_differences
from tests.support.require import unavailable

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "capture-reference"


def test_shape_differences_sees_other_keys_and_types():
    old = {"result": [{"AoR": "1001", "Q": -1}, "x"], "id": 1}
    assert shape_differences(old, {"result": [{"AoR": "7", "Q": 0.5}], "id": 2}) == []
    assert shape_differences(old, {"result": [], "id": 2}) == []  # fewer items: no judgement
    assert shape_differences(old, {"error": {}, "id": 1}) == [
        "$: keys ['result'] gone, ['error'] new"
    ]
    assert shape_differences(old, {"result": [{"AoR": 1001, "Q": -1}], "id": 1}) == [
        "$.result[0].AoR: string became number"
    ]


@pytest.fixture(scope="module")
def recaptured(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(out)], capture_output=True, text=True, timeout=300
    )
    if proc.returncode == 2:  # the script names the missing prerequisite
        unavailable(proc.stderr.strip().removeprefix("capture-reference: "))
    assert proc.returncode == 0, proc.stderr
    return out


def blocks(path: Path) -> list[tuple[str, str, str]]:
    """(command, kind of its first output line, exit status line) of an output file."""
    out, command, first = [], None, None
    for line in path.read_text().split("\n"):
        if re.match(r"^\$ kam(cmd|ctl) ", line):
            command, first = line, None
        elif command and line.startswith("[exit status:"):
            out.append((command, first or "", line))
            command = None
        elif command and first is None:
            first = "error" if line.startswith(("error", "ERROR")) else (line[:1] or "blank")
            first = first if first in ("error", "{", "[", "blank") else "text"
    return out


@pytest.mark.slow
@pytest.mark.kamailio
def test_recaptured_rpc_answers_have_the_committed_shapes(recaptured):
    committed = sorted(p.name for p in (REFERENCE / "rpc").glob("*.json"))
    assert sorted(p.name for p in (recaptured / "rpc").glob("*.json")) == committed
    problems = {}
    for name in committed:
        old = json.loads((REFERENCE / "rpc" / name).read_text())
        new = json.loads((recaptured / "rpc" / name).read_text())
        if found := shape_differences(old, new):
            problems[name] = found[:5]
    assert not problems, json.dumps(problems, indent=1)[:6000]


@pytest.mark.slow
@pytest.mark.kamailio
@pytest.mark.parametrize("tool", ["kamcmd", "kamctl"])
def test_recaptured_tool_outputs_have_the_committed_shapes(recaptured, tool):
    old = blocks(REFERENCE / f"{tool}-output.txt")
    new = blocks(recaptured / f"{tool}-output.txt")
    assert len(old) > 10 and [b[0] for b in new] == [b[0] for b in old]
    assert [b for b in new if b not in old] == []


@pytest.mark.slow
@pytest.mark.kamailio
def test_recaptured_database_rows_have_the_committed_storage_types(recaptured):
    old = json.loads((REFERENCE / "db" / "sqlite-rows.json").read_text())
    new = json.loads((recaptured / "db" / "sqlite-rows.json").read_text())
    assert set(new) == set(old)
    for table, spec in old.items():
        if table.startswith("_"):
            continue
        assert new[table]["columns"] == spec["columns"]
        if not spec["rows"] or not new[table]["rows"]:
            continue
        for column in spec["columns"]:
            was = {row[column][0] for row in spec["rows"]}
            now = {row[column][0] for row in new[table]["rows"]}
            assert now <= was, (table, column, was, now)  # e.g. REAL Julian days stay REAL
    assert json.loads((recaptured / "db" / "sqlite-rows.json").read_text())["subscriber"]["rows"]
    groups = "tables-by-schema-group.json"
    # made from Kamailio's own schema files: the same package gives the same file
    assert json.loads((recaptured / "db" / groups).read_text()) == json.loads(
        (REFERENCE / "db" / groups).read_text()
    )


def test_skip_messages_name_what_is_really_missing(monkeypatch, tmp_path):
    """A clone with Kamailio installed but no cfg used to hear "kamailio 5.6 with the
    reference cfg is not installed"; each prerequisite now has its own words."""
    from tests.support import kamailio

    if kamailio.kamailio_missing() is not None:
        unavailable(kamailio.kamailio_missing() or "")
    monkeypatch.setattr(kamailio, "CONFIG", tmp_path / "kamailio-interop.cfg")
    assert kamailio.kamailio_missing() == (
        f"the reference cfg is missing ({tmp_path / 'kamailio-interop.cfg'})"
    )
    monkeypatch.setattr(kamailio, "SCHEMA_DIR", tmp_path)
    assert "SQLite schema files are missing" in (kamailio.kamailio_missing() or "")
    monkeypatch.setattr(kamailio.shutil, "which", lambda name: None)
    assert kamailio.kamailio_missing() == (
        "kamailio is not installed (scripts/test apt-installs kamailio)"
    )


def test_the_script_names_a_missing_cfg(tmp_path):
    """Pointed at a folder without the cfg, the script says so and exits 2."""
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "out"), "--source", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert f"the reference cfg is missing ({tmp_path / 'kamailio-interop.cfg'})" in proc.stderr
