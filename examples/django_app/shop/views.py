import logging

from django.db.models import F
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404

from .models import Item

log = logging.getLogger(__name__)


def home(request):
    return HttpResponse("ok\n", content_type="text/plain")


def item(request, name):
    found = get_object_or_404(Item, name=name)
    return JsonResponse({"name": found.name})


def touch(request, name):
    found, created = Item.objects.get_or_create(name=name)
    Item.objects.filter(pk=found.pk).update(touched=F("touched") + 1)
    return JsonResponse({"name": found.name})


def boom(request):
    log.warning("about to fail")
    raise RuntimeError("the shop is on fire")
