"""Tasks of Django's tasks framework (django.tasks on Django 6, django_tasks on 5.2), run by
huey through ``huey.contrib.djhuey.tasks_backend.HueyBackend``."""

import os

try:
    from django.tasks import task
except ImportError:
    from django_tasks import task

from orders.models import Event, Order


@task()
def customer_total(customer):
    """Sum a customer's orders and record that this worker did it."""
    total = sum(Order.objects.filter(customer=customer).values_list("total", flat=True))
    Event.objects.create(kind="django-task", detail=f"{customer}:{total}", pid=os.getpid())
    return {"customer": customer, "total": total}


@task(takes_context=True)
def attempt_number(context, label):
    return {"label": label, "attempt": context.attempt, "id": context.task_result.id}


@task()
def refuse(reason):
    raise ValueError(reason)


@task()
async def double(value):
    return value * 2


@task(queue_name="reports")
def order_count():
    return Order.objects.count()
