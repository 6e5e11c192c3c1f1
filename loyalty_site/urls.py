from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Loyalty admin"
admin.site.site_title = "Loyalty admin"
admin.site.index_title = "Data entry"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("reports/", include("rewards.urls")),
    path("program/", include("rewards.program_urls")),
    path("", include("customers.urls")),
    path("", include("transactions.urls")),
]
