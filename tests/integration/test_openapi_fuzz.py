"""Schemathesis over the OpenAPI spec: generated requests for every operation, and no answer
is a 5xx (bad input gets a 4xx with a reason, never a stack trace). In-process app, trusted
header as the demo user, so the generated calls reach the handlers.

Schemathesis is used for its strategies only (one Hypothesis strategy per operation), not
its pytest plugin, whose parametrization breaks with some pytest releases."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from openoms.api.rest import create_app
from openoms.bootstrap import build
from stores import Store

EXAMPLES_PER_OPERATION = 8


@pytest.fixture(scope="module")
def client(module_store: Store) -> Iterator[TestClient]:
    oms = build(module_store.config(market_data_interval_ms=100, fix_enabled=False))
    app = create_app(oms, manage_lifecycle=True, trusted_header=True)
    with TestClient(app, raise_server_exceptions=False) as test_client:  # one running engine for every generated call
        yield test_client


def test_no_operation_answers_a_server_error(client: TestClient) -> None:
    schema = schemathesis.openapi.from_dict(client.get("/openapi.json").json())
    seen: Counter[tuple[str, int]] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50

    for operation in operations:
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            kwargs = case.as_transport_kwargs(base_url="http://testserver", headers={"X-OMS-User": "demo"})
            body = {"content": kwargs["data"]} if "data" in kwargs else {}
            response = client.request(kwargs["method"], kwargs["url"], headers=kwargs.get("headers"),
                                      params=kwargs.get("params"), json=kwargs.get("json"), **body)
            seen[(case.method, response.status_code)] += 1
            assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text[:500])

        call()

    # The calls reached the handlers: answers, and refusals of generated bodies, not only 404s or 401s.
    assert sum(n for (_, status), n in seen.items() if status < 300) > 20, seen
    assert sum(n for (method, status), n in seen.items() if method == "POST" and status in (400, 422)) > 10, seen
