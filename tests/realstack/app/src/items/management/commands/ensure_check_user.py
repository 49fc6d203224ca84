"""The user the deploy checks log in as, from CHECK_USER / CHECK_PASSWORD."""
import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    def handle(self, *args, **options):
        name = os.environ.get("CHECK_USER", "pitwall-check")
        user, _ = get_user_model().objects.get_or_create(username=name)
        user.set_password(os.environ["CHECK_PASSWORD"])
        user.save()
