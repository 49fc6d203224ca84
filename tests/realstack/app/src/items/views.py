from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError, connection
from django.http import JsonResponse

from . import listing


def health(request):
    """ok once the database answers."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return JsonResponse({"status": "database unreachable"}, status=503)
    return JsonResponse({"status": "ok", "version": settings.APP_RELEASE})


def items(request):
    return JsonResponse({"version": settings.APP_RELEASE, "items": listing.rows()})


@login_required
def me(request):
    return JsonResponse({"username": request.user.get_username()})
