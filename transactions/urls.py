from django.urls import path

from . import views

app_name = "transactions"

urlpatterns = [
    path("till/", views.till, name="till"),
    path("till/enrol/", views.enrol, name="enrol"),
    path("till/redeem/", views.redeem_reward, name="redeem"),
    path("till/redemptions/<int:pk>/undo/", views.undo_redemption_view, name="undo_redemption"),
    path("till/customers/", views.customer_suggestions, name="customer_suggestions"),
    path("transactions/<int:pk>/", views.transaction_page, name="transaction"),
    path("transactions/<int:pk>/refund/", views.refund, name="refund"),
]
