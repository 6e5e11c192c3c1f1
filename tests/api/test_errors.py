"""Every 4xx is application/problem+json (RFC 9457), with Allow, WWW-Authenticate and Retry-After where due."""

import pytest

from api.keys import revoke_api_key
from api.problems import PROBLEM_TYPES
from tests.pages import text_of
from transactions.models import Transaction

from .conftest import ApiClient, problem

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Basic dXNlcjpwYXNz", "Bearer lk_wrongprefx_secret", "Bearer nonsense", "Bearer lk_\x00\x00_x"],
)
def test_without_a_valid_key_every_resource_answers_401_with_the_scheme(client, customer, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = client.get("/api/v1/customers/M100", **headers)  # another scheme (Basic) counts as no key
    body = problem(response)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert body["type"].endswith("/api/v1/problems/unauthorized")
    assert body["title"] == "A valid API key is needed"


def test_a_revoked_key_is_refused_at_its_next_call(make_key, manager, customer):
    key, api = make_key("staff")
    assert api.get("customers/M100").status_code == 200
    revoke_api_key(api_key=key, revoked_by=manager)
    assert problem(api.get("customers/M100"))["status"] == 401
    assert api.post("purchases", {"customer": "M100", "amount": "5.00"}).status_code == 401
    assert not Transaction.objects.exists()


def test_a_store_staff_key_may_not_read_reports(staff_api):
    body = problem(staff_api.get("reports/points"))
    assert body["status"] == 403
    assert body["detail"] == "This resource is for managers' keys: this key has store staff's rights."


def test_an_unknown_path_and_a_wrong_method_answer_problems(staff_api):
    assert problem(staff_api.get("nothing/here"))["status"] == 404
    assert problem(ApiClient().get("v2"))["status"] == 404
    wrong = staff_api.request("get", "purchases")
    assert problem(wrong)["status"] == 405
    assert wrong["Allow"] == "POST, OPTIONS"
    assert problem(staff_api.request("delete", "customers/M100"))["status"] == 405


def test_a_body_that_is_not_json_is_415_and_broken_json_is_400(staff_api):
    form = staff_api.client.post(
        "/api/v1/purchases", {"customer": "M100"}, HTTP_AUTHORIZATION=f"Bearer {staff_api.secret}"
    )
    assert problem(form)["status"] == 415
    assert problem(staff_api.post("purchases", '{"customer": "M100", "amount": '))["status"] == 400
    assert problem(staff_api.post("purchases", '{"amount": NaN}'))["status"] == 400
    listed = problem(staff_api.post("purchases", "[1, 2]"))
    assert listed["status"] == 422 and listed["errors"] == [{"detail": "Send a JSON object."}]


def test_asking_for_csv_where_there_is_none_is_406(staff_api, customer):
    assert problem(staff_api.get("customers/M100", accept="text/csv"))["status"] == 406


def test_a_key_over_its_rate_gets_429_with_retry_after_and_records_nothing(make_key, customer, settings):
    settings.LOYALTY_API_RATE = "3/minute"
    key, api = make_key("staff")
    _, other = make_key("staff")
    for _ in range(3):
        assert api.get("customers/M100").status_code == 200
    over = api.post("purchases", {"customer": "M100", "amount": "5.00"})
    body = problem(over)
    assert body["status"] == 429 and body["type"].endswith("/too-many-requests")
    assert 1 <= int(over["Retry-After"]) <= 60
    assert not Transaction.objects.exists()
    # Per key: another key is not slowed down.
    assert other.get("customers/M100").status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_every_problem_type_has_a_page_that_explains_it(client):
    for slug, problem_type in PROBLEM_TYPES.items():
        response = client.get(f"/api/v1/problems/{slug}")
        assert response.status_code == 200
        assert problem_type.meaning.split("`")[0][:30] in text_of(response)
    assert client.get("/api/v1/problems/nope").status_code == 404
