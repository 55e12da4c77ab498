"""docs/run.schema.json: the published JSON Schema of run.json, generated from the pydantic
ScanRun and kept current by this test. After a change to probe/model.py, regenerate it with

    LANPROBE_UPDATE_SCHEMA=1 .venv/bin/pytest tests/report/test_run_schema.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from lanprobe.model import SCHEMA_VERSION, ScanRun, Verdict

from tests.report.runs import device, make_run, result, sample_run

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "run.schema.json"


def run_schema() -> dict[str, Any]:
    body = ScanRun.model_json_schema(mode="validation")
    body["properties"]["schema_version"]["const"] = SCHEMA_VERSION
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:lanprobe:run.json:schema-version-{SCHEMA_VERSION}",
        "description": (
            "run.json written by lanprobe (one scan: scope, devices, results, scores). "
            "Generated from probe/model.py ScanRun; fields may be added, a rename or removal "
            "raises schema_version."
        ),
        **body,
    }


def _text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def test_published_schema_is_current() -> None:
    want = _text(run_schema())
    if os.environ.get("LANPROBE_UPDATE_SCHEMA") == "1":
        SCHEMA_PATH.parent.mkdir(exist_ok=True)
        SCHEMA_PATH.write_text(want, encoding="utf-8")
    assert SCHEMA_PATH.exists(), "docs/run.schema.json missing: see this module's docstring"
    assert SCHEMA_PATH.read_text(encoding="utf-8") == want, (
        "docs/run.schema.json is stale after a model change: "
        "LANPROBE_UPDATE_SCHEMA=1 .venv/bin/pytest tests/report/test_run_schema.py"
    )


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def assert_valid_run_json(path: Path, validator: jsonschema.protocols.Validator) -> None:
    """Any run.json on disk against the published schema (other tests may reuse this)."""
    validator.validate(json.loads(path.read_text(encoding="utf-8")))


def test_written_run_json_validates(
    tmp_path: Path, validator: jsonschema.protocols.Validator
) -> None:
    path = tmp_path / "run.json"
    sample_run().write(path)
    assert_valid_run_json(path, validator)
    dev = device(40, None, serial=None, mac=None)  # no MAC, no serial, no profile
    bare = make_run("bare", [dev], [result(dev, "identification.identifier", Verdict.fail)])
    bare.finished = None
    bare.write(path)
    assert_valid_run_json(path, validator)


def test_schema_refuses_what_readers_would_misread(
    validator: jsonschema.protocols.Validator,
) -> None:
    good = json.loads(sample_run().to_json())
    assert validator.is_valid(good)
    bad_verdict = json.loads(sample_run().to_json())
    bad_verdict["results"][0]["verdict"] = "maybe"
    assert not validator.is_valid(bad_verdict)
    no_id = json.loads(sample_run().to_json())
    del no_id["run_id"]
    assert not validator.is_valid(no_id)
    other_version = json.loads(sample_run().to_json())
    other_version["schema_version"] = 2
    assert not validator.is_valid(other_version)
    bad_port = json.loads(sample_run().to_json())
    bad_port["devices"][0]["services"][0]["port"] = "eighty"
    assert not validator.is_valid(bad_port)
