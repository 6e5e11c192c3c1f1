from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from loyalty_site.access import is_manager, is_store_staff

from .selectors import find_customers


def home(request: HttpRequest) -> HttpResponse:
    # Store staff spend the day at the till: they land there after signing in. Managers keep the start page.
    if is_store_staff(request.user) and not is_manager(request.user):
        return redirect("transactions:till")
    return render(request, "home.html")


@permission_required("customers.view_customer", raise_exception=True)
def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    return render(request, "customers/search.html", {"query": query, "customers": find_customers(query)})
