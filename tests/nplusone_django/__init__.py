"""A small Django project for the N+1 tests: a library app (authors → books) with lazy and
eager views, run by pytest-django in a subprocess of its own (see tests/test_nplusone_django.py)
so the rest of the suite never sees DJANGO_SETTINGS_MODULE."""
