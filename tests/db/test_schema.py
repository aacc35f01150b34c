"""The schema source: Kamailio 5.6's tables, groups and versions; models follow from it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kamtool.db import models, schema
from tests.support.kamailio import REFERENCE
from tests.support.require import unavailable

REPO = Path(__file__).resolve().parents[2]
GROUPS_FILE = REFERENCE / "db" / "tables-by-schema-group.json"


def test_tables_groups_and_versions_match_kamdbctl():
    if not GROUPS_FILE.exists():
        unavailable(f"reference captures not found at {GROUPS_FILE}")
    ref = json.loads(GROUPS_FILE.read_text())["groups"]
    for group in schema.GROUP_NAMES:
        expected = {t: v for mod in ref[group].values() for t, v in mod.items()}
        if group == "standard":  # the one row Kamailio's usrloc refuses (schema/generate.py)
            assert expected["aliases"] == schema.table("aliases").kamailio_files_version == 8
            expected["aliases"] = 9
        assert schema.expected_versions([group]) == expected, group
        assert list(ref[group]) == schema.group_modules()[group]  # kamdbctl's module order
    assert len(schema.tables()) == 63
    assert {g: len(models.GROUPS[g]) for g in models.GROUPS} == {
        "standard": 29,
        "presence": 7,
        "extra": 27,
    }


def test_model_classes_are_named_after_tables():
    assert set(models.MODELS) == set(schema.tables())
    for name, model in models.MODELS.items():
        assert model._meta.table_name == name
        assert getattr(models, models.class_name(name)) is model  # explicit module names
        assert list(model._meta.fields) == [c.name for c in schema.table(name).columns]
    assert models.class_name("dialog_vars") == "DialogVars" and models.Dbaliases.spec.version == 1
    loc = models.Location
    assert loc.domain.null and not loc.username.null and loc.username.default == ""
    assert loc.q.default == 1.0 and loc.contact.max_length == 512


def test_the_packaged_schema_is_the_source_and_up_to_date():
    packaged = REPO / "kamtool/db/kamailio-5.6.json"
    assert packaged.read_bytes() == (REPO / "schema/kamailio-5.6.json").read_bytes()
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"*.json"' in pyproject  # package data: the file ships inside the wheel
    if not Path("/usr/share/kamailio/mysql/standard-create.sql").exists():
        return  # the generator needs Kamailio's schema files
    check = subprocess.run(
        [sys.executable, str(REPO / "schema/generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr
