from django.urls import path

from . import pages

app_name = "api_keys"

urlpatterns = [
    path("", pages.keys, name="list"),
    path("<int:pk>/revoke/", pages.revoke, name="revoke"),
]
