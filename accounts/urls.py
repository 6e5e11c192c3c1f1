from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("staff/", views.staff, name="staff"),
    path("staff/unlock/", views.unlock, name="unlock"),
    path("staff/<int:pk>/", views.account, name="account"),
    path("accounts/two-factor/", views.two_factor_enrol, name="two_factor_enrol"),
    path("accounts/two-factor/verify/", views.two_factor_verify, name="two_factor_verify"),
]
