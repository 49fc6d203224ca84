from .models import Item


def rows():
    return list(Item.objects.order_by("id").values())
