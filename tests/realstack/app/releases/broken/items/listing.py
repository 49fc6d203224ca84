from .models import Item


def rows():
    # The bug this release ships: no such field (FieldError, a 500).
    return list(Item.objects.order_by("created_at").values())
