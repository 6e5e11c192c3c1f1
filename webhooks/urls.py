from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("", views.endpoints, name="endpoints"),
    path("<int:pk>/", views.endpoint, name="endpoint"),
    path("<int:pk>/edit/", views.edit, name="edit"),
    path("<int:pk>/enabled/", views.set_enabled, name="set_enabled"),
    path("<int:pk>/secret/", views.replace_secret, name="replace_secret"),
    path("<int:pk>/delete/", views.delete, name="delete"),
    path("deliveries/<int:pk>/", views.delivery, name="delivery"),
    path("deliveries/<int:pk>/redeliver/", views.redeliver, name="redeliver"),
]
