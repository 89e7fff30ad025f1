"""The OpenAPI document fuzzed with schemathesis (RELIABILITY.md acceptance test 11): whatever a client
sends, the API answers a documented 4xx or a valid response, never a 500, and responses match the schema."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.factories import api_token, make_patient, make_user

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_never_500_and_matches_its_schema(app, client, mode):
    user = make_user(role="admin")
    make_patient(user.practice, name="Fuzz Doel")
    headers = api_token(user)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 4

    statuses: set[int] = set()
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=30,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def fuzz(case):
            response = case.call_and_validate(session=client, headers=headers, checks=CHECKS)
            statuses.add(response.status_code)

        fuzz()

    # The fuzzing reached the endpoints themselves, not only the authentication gate.
    assert statuses - {401}
    if mode == GenerationMode.POSITIVE:
        assert statuses & {200, 201}
    else:
        assert statuses & {400, 404, 422}
