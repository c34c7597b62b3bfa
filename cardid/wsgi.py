"""WSGI entry point for the production server: terminals' look-ups are answered by their own
door (cardid.api.terminals), everything else by Django."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cardid.settings")
django_application = get_wsgi_application()

from cardid.api.terminals import Terminals  # noqa: E402 - needs Django set up

application = Terminals(django_application)
