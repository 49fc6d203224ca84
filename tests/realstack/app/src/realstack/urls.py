from django.contrib.auth.views import LoginView
from django.urls import path

from items import views

urlpatterns = [
    path("api/health/", views.health),
    path("api/items/", views.items),
    path("api/me/", views.me),
    path("accounts/login/", LoginView.as_view()),
]
