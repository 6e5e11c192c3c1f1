from django.urls import path

from . import accounting_views

app_name = "accounting"

urlpatterns = [
    path("", accounting_views.liability, name="liability"),
    path("breakage/", accounting_views.breakage, name="breakage"),
    path("breakage/estimate/", accounting_views.breakage_estimate, name="breakage_estimate"),
    path("ageing/", accounting_views.ageing_page, name="ageing"),
    path("close/", accounting_views.month_close, name="close"),
    path("close/month/", accounting_views.close_month_view, name="close_month"),
    path("close/reopen/", accounting_views.reopen_month_view, name="reopen_month"),
    path("point-value/", accounting_views.point_value, name="point_value"),
]
