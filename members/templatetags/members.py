"""`{% member_panel customer %}` on the staff's customer page: the member's card link and email status, and
the card link and erasure actions (one query)."""

from django import template

from loyalty_site.access import is_manager

from ..forms import EraseForm
from ..models import Membership

register = template.Library()


@register.inclusion_tag("members/staff/_member_panel.html", takes_context=True)
def member_panel(context, customer):
    request = context["request"]
    return {
        "customer": customer,
        "membership": Membership.objects.filter(pk=customer.pk).select_related("erased_by").first(),
        "manager": is_manager(request.user),
        "erase_form": EraseForm(member_number=customer.member_number),
        "csrf_token": context.get("csrf_token"),
        "referrals": customer.referrals.count(),
    }
