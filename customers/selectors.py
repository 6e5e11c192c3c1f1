"""Reads for customers: how staff find them."""

import re

from django.db.models import Q, QuerySet

from .models import Customer
from .services import normalize_phone


def find_customers(text: str, *, limit: int = 20) -> list[Customer]:
    """Customers matching what staff typed: a member number, a phone, an email, or part of a name.

    An exact member number, phone or email wins outright (one match); otherwise names and partial
    member numbers, phones and emails are searched.
    """
    text = (text or "").strip()
    if not text:
        return []
    digits = re.sub(r"\D", "", text)
    exact_query = Q(member_number__iexact=text) | Q(email__iexact=text)
    if len(digits) >= 4:
        exact_query |= Q(phone=normalize_phone(text)) | Q(phone=digits)
    exact = list(Customer.objects.filter(exact_query).select_related("home_store")[:limit])
    if exact:
        return exact
    query = Q(name__icontains=text) | Q(member_number__istartswith=text) | Q(email__icontains=text)
    if len(digits) >= 4:
        query |= Q(phone__contains=digits)
    return list(search_customers(query)[:limit])


def search_customers(query: Q) -> QuerySet[Customer]:
    return Customer.objects.filter(query).select_related("home_store").order_by("name", "member_number")
