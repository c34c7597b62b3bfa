"""schemathesis against the served OpenAPI schema: no 5xx, every response as documented."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings, strategies
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cardid.access import tokens
from cardid.wsgi import application
from tests.factories import ADMIN, give_number, make_group, make_user

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
# One test per API operation, each with its own id: schemathesis's own parametrize gives them
# all one id, and a parallel run (pytest-xdist runs a test by its id) then ran one of 18.
OPERATIONS = [result.ok() for result in schema.get_all_operations()]


@pytest.fixture
def key(transactional_db):
    ann = make_user(username="ann")
    give_number(ann, "12345678")
    make_group("staff", members=[ann])
    return tokens.create(name="fuzz", scope="write", actor=ADMIN)[1]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
@given(data=strategies.data())
def test_api_conforms_to_its_schema(operation, data, key):
    case = data.draw(operation.as_strategy())
    # What the issue asks: no 5xx, and every answer as the schema documents it (status code,
    # content type, body). Unknown extra query parameters are ignored, as Django does.
    case.call_and_validate(
        headers={"Authorization": f"Bearer {key}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
