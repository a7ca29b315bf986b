"""No table: ``Queue`` only gives the admin an entry for its read-only queue page."""

from django.db import models


class Queue(models.Model):
    """Stands for the configured huey queues in the admin; never stored."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = "queue"
        verbose_name_plural = "queues"

    def __str__(self) -> str:
        return "huey queues"
