from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .selectors import find_customers


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


@permission_required("customers.view_customer", raise_exception=True)
def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    return render(request, "customers/search.html", {"query": query, "customers": find_customers(query)})
