"""schemathesis fuzzes every operation of /api/v1/openapi.json as a signed-in administrator.

No answer may be a 5xx, and every answer must match the schema the API publishes for it.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from core.extensions import db
from tests.conftest import dispose, make_app
from tests.factories import auth, build_world, make_member

#: Examples generated per operation (each also tries the schema's edge cases first).
EXAMPLES = 10


@pytest.fixture
def signed_in_api(database_url):
    """The app (no rate limit in the way) with a world, and a maker of fresh administrators' headers.

    Every case signs in as a new global administrator, since a case may sign its caller out,
    change its password or suspend it.
    """
    app = make_app(database_url, RATELIMIT_DEFAULT="1000000 per minute")
    with app.app_context():
        build_world()

    def new_admin() -> dict:
        with app.app_context():
            headers = auth(make_member("模糊测试", role="admin", on=None))
            db.session.remove()
            return headers

    yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app), new_admin
    dispose(app)


def test_no_operation_answers_5xx_or_off_its_schema(signed_in_api):
    schema, new_admin = signed_in_api
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def probe(case):
            response = case.call(headers=new_admin())
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance, content_type_conformance]
            )

        try:
            probe()
        except Exception as failure:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {str(failure)[:1500]}")
    assert not failures, "\n\n".join(failures)
