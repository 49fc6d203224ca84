"""What the container does before serving, in one Python start (each
`manage.py` run imports Django again, seconds on a busy machine): wait (up
to 60 s) until the database accepts a connection, as PostgreSQL initialises
its cluster on a first start; migrate; make sure the user the deploy checks
log in as exists (CHECK_USER / CHECK_PASSWORD). A failing migration raises:
its traceback goes to stderr and the container exits non-zero."""
import os
import time

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError, connection


class Command(BaseCommand):
    def handle(self, *args, **options):
        deadline = time.monotonic() + 60
        while True:
            try:
                connection.ensure_connection()
                break
            except OperationalError:
                if time.monotonic() > deadline:
                    raise CommandError("the database did not answer within 60 s")
                time.sleep(0.25)
        call_command("migrate", interactive=False)
        name = os.environ.get("CHECK_USER", "pitwall-check")
        user, _ = get_user_model().objects.get_or_create(username=name)
        user.set_password(os.environ["CHECK_PASSWORD"])
        user.save()
