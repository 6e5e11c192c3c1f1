"""The project's URLs plus the load test's baseline: a bare Django view that does one INSERT.

Served only by gunicorn under bench/chain.py (bench/chain_settings.py); never part of the product. The
baseline goes through the same middleware (sessions, CSRF, logs, metrics...) and the same gunicorn and
database as the till; it skips only what the till does: signing in, finding the customer, the form, the
services, the ledger and the page. `POST /bench/insert/` writes one row into bench_chain_insert (made by
bench/chain.py) and answers 204.
"""

from decimal import Decimal

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from loyalty_site.urls import urlpatterns as site_urlpatterns

BASELINE_TABLE = "bench_chain_insert"


@login_not_required
@csrf_exempt
@require_POST
def insert_one(request: HttpRequest) -> HttpResponse:
    amount = Decimal(request.POST.get("amount") or "0")
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {BASELINE_TABLE} (amount, at) VALUES (%s, now())", [amount])
    return HttpResponse(status=204)


urlpatterns = [path("bench/insert/", insert_one, name="bench_insert"), *site_urlpatterns]
