from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("", views.program_at_a_glance, name="glance"),
    path("points/", views.monthly_points_report, name="points"),
    path("customers/<int:pk>/", views.customer_statement, name="statement"),
]
