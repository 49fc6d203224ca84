"""Waits (up to 60 s) until the database accepts a connection: on a first
start PostgreSQL initialises its cluster while the app starts."""
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError, connection


class Command(BaseCommand):
    def handle(self, *args, **options):
        deadline = time.monotonic() + 60
        while True:
            try:
                connection.ensure_connection()
                return
            except OperationalError:
                if time.monotonic() > deadline:
                    raise CommandError("the database did not answer within 60 s")
                time.sleep(0.25)
