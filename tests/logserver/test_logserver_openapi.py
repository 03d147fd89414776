"""docs/logserver-openapi.yaml is a valid OpenAPI 3.1 document and matches the server."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from logserver_helpers import VIEWER, Running, bearer, failing_log

from gwms_core.logserver.tokens import KeyRing

SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "logserver-openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{VIEWER[0]}:{VIEWER[1]}".encode())
        .decode()}


def test_spec_is_valid_openapi() -> None:
    validator = pytest.importorskip("openapi_spec_validator",
                                    reason="pip package openapi-spec-validator absent")
    validator.validate(SPEC)


def _schema(name: str) -> dict[str, Any]:
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": f"#/components/schemas/{name}", "components": SPEC["components"]}


@pytest.fixture
def stored(logserver: Running, keyring: KeyRing) -> Running:
    status, _, body = logserver.request("PUT", "/logs/ce1/g-0001/glidein.jsonl",
                                        failing_log(), bearer(keyring, "ce1", "g-0001"))
    assert status == 201
    jsonschema.validate(json.loads(body), _schema("UploadResult"))
    return logserver


def test_every_documented_get_path_is_served(stored: Running) -> None:
    values = {"entry": "ce1", "glidein": "g-0001", "name": "glidein.jsonl"}
    paths = [p for p, ops in SPEC["paths"].items() if "get" in ops]
    assert len(paths) >= 6
    for template in paths:
        path = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)
        if template == "/api/v1/search":
            path += "?q=quasarflux"
        status, _, _ = stored.request("GET", path, None, AUTH)
        assert status == 200, template


def test_responses_match_documented_schemas(stored: Running) -> None:
    def get(path: str) -> Any:
        status, _, body = stored.request("GET", path, None, AUTH)
        assert status == 200
        return json.loads(body)

    page = get("/api/v1/glideins")
    for g in page["glideins"]:
        jsonschema.validate(g, _schema("Glidein"))
    one = get("/api/v1/glideins/ce1/g-0001")
    jsonschema.validate({k: v for k, v in one.items() if k != "files"}, _schema("Glidein"))
    for f in one["files"]:
        jsonschema.validate(f, _schema("File"))
    for line in get("/api/v1/glideins/ce1/g-0001/records")["records"]:
        jsonschema.validate(line, _schema("Line"))
    for line in get("/api/v1/search?q=quasarflux")["hits"]:
        jsonschema.validate(line, _schema("Line"))


def test_documented_schemas_reject_wrong_shapes() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"status": "exploded"}, _schema("Glidein"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"time": 1, "script": "s", "severity": "info"}, _schema("Record"))


def test_documented_refusal_reasons_are_the_servers() -> None:
    from gwms_core.logserver.server import REFUSAL_REASONS
    from gwms_core.metrics import LOGSERVER_REFUSALS
    documented = SPEC["components"]["schemas"]["Refusal"]["properties"]["reason"]["enum"]
    assert sorted(documented) == sorted(REFUSAL_REASONS)
    for reason in REFUSAL_REASONS:
        assert reason in LOGSERVER_REFUSALS.help
