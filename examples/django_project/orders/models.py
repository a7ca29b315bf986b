from django.db import models


class Order(models.Model):
    customer = models.CharField(max_length=100)
    total = models.IntegerField(help_text="in cents")
    status = models.CharField(max_length=20, default="new")
    processed_by = models.CharField(max_length=100, blank=True)

    def __str__(self) -> str:
        return f"order {self.pk} of {self.customer}: {self.status}"


class Event(models.Model):
    """What the tasks did, written by the tasks themselves."""

    kind = models.CharField(max_length=50)
    detail = models.CharField(max_length=200, blank=True)
    pid = models.IntegerField()
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"
