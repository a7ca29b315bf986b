"""The Django app of ``huey.contrib.djhuey``."""

from django.apps import AppConfig


class DjhueyConfig(AppConfig):
    name = "huey.contrib.djhuey"
    label = "djhuey"
    verbose_name = "Huey"
    default_auto_field = "django.db.models.AutoField"
