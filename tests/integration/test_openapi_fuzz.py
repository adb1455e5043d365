"""Schemathesis over the OpenAPI spec: generated requests for every operation, and no answer
is a 5xx (bad input gets a 4xx with a reason, never a stack trace). In-process app, trusted
header as the demo user, so the generated calls reach the handlers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from openoms.api.rest import create_app
from openoms.bootstrap import build
from openoms.config import Config


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    oms = build(Config(data_dir=Path(tmp_path_factory.mktemp("fuzz")) / "data", market_data_interval_ms=100,
                       fix_enabled=False))
    app = create_app(oms, manage_lifecycle=True, trusted_header=True)
    with TestClient(app, raise_server_exceptions=False) as test_client:  # one running engine for every generated call
        yield test_client


@pytest.fixture(scope="module")
def api_schema(client: TestClient) -> Any:
    return schemathesis.openapi.from_dict(client.get("/openapi.json").json())


schema = schemathesis.pytest.from_fixture("api_schema")
SEEN: Counter[tuple[str, int]] = Counter()



@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_a_server_error(case: Any, client: TestClient) -> None:
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers={"X-OMS-User": "demo"})
    response = client.request(kwargs.pop("method"), kwargs.pop("url"), **{k: v for k, v in kwargs.items()
                                                                          if k in ("headers", "params", "json")},  # the API uses no cookies
                              **({"content": kwargs["data"]} if "data" in kwargs else {}))
    SEEN[(case.method, response.status_code)] += 1
    assert set(kwargs) <= {"headers", "params", "json", "content", "cookies", "data"}, kwargs.keys()
    assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text[:500])


def test_zz_the_generated_calls_reached_the_handlers() -> None:
    """Runs after the fuzzing (file order): not every answer may be a 404 or 401 of a wrong path or header."""
    assert sum(n for (_, status), n in SEEN.items() if status < 300) > 20, SEEN
    assert sum(n for (method, status), n in SEEN.items() if method == "POST" and status in (400, 422)) > 10, SEEN
