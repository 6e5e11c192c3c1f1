from django.urls import path

from . import views

app_name = "imports"

urlpatterns = [
    path("", views.upload, name="upload"),
    path("<int:pk>/", views.job, name="job"),
    path("<int:pk>/status/", views.status, name="status"),
    path("<int:pk>/errors.csv", views.error_report, name="error_report"),
]
