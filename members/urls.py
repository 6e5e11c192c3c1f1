from django.urls import path

from . import staff_views, views

app_name = "members"

urlpatterns = [
    # The members' pages: public by design, each showing only the signed-in member's own data.
    path("join/", views.join, name="join"),
    path("join/sent/", views.join_sent, name="join_sent"),
    path("join/confirm/<str:token>/", views.join_confirm, name="join_confirm"),
    path("card/", views.card, name="card"),
    path("card/open/<str:key>/", views.card_link, name="card_link"),
    path("card/sign-in/", views.sign_in, name="sign_in"),
    path("card/sign-in/sent/", views.sign_in_sent, name="sign_in_sent"),
    path("card/sign-in/<str:token>/", views.sign_in_link, name="sign_in_link"),
    path("card/sign-out/", views.sign_out, name="sign_out"),
    path("card/my-data.json", views.export, name="export"),
    path("card/emails/", views.preferences, name="preferences"),
    path("card/emails/confirm/", views.confirm_email, name="confirm_email"),
    path("card/feedback/", views.feedback, name="feedback"),
    path("feedback/<str:token>/", views.feedback_link, name="feedback_link"),
    path("unsubscribe/<str:token>/", views.unsubscribe_view, name="unsubscribe"),
    # The staff's side.
    path("members/poster/", staff_views.poster, name="poster"),
    path("members/customers/<int:pk>/card-link/", staff_views.card_link, name="staff_card_link"),
    path("members/customers/<int:pk>/erase/", staff_views.erase, name="erase"),
    path("program/members/", staff_views.settings_page, name="settings"),
    path("reports/feedback/", staff_views.feedback_report_page, name="feedback_report"),
]
