from django.urls import path

from . import views

app_name = "customers"

urlpatterns = [
    path("", views.home, name="home"),
    path("customers/", views.search, name="search"),
    path("customers/list/", views.customers_list, name="list"),
    path("customers/<int:pk>/contact/", views.contact, name="contact"),
    path("customers/<int:pk>/", views.customer_page, name="customer"),
    path("customers/<int:pk>/award/", views.award, name="award"),
    path("customers/<int:pk>/adjust/", views.adjust, name="adjust"),
    path("customers/adjustments/", views.adjustment_requests, name="adjustments"),
    path("customers/adjustments/<int:pk>/decide/", views.decide, name="decide_adjustment"),
    path("customers/adjustments/<int:pk>/withdraw/", views.withdraw, name="withdraw_adjustment"),
]
