from django.urls import path

from . import views

urlpatterns = [
    path("", views.home),
    path("items/<str:name>/", views.item),
    path("items/<str:name>/touch/", views.touch),
    path("boom/", views.boom),
]
