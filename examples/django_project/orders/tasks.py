"""The shop's huey tasks; ``run_huey`` imports this module (every app's ``tasks``)."""

import os

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task, lock_task, on_commit_task, task
from orders.models import Event, Order


@task()
def add(a, b):
    return a + b


@db_task(retries=1)
def process_order(order_id):
    """Mark an order processed by this worker process; returns its new status."""
    order = Order.objects.get(pk=order_id)
    order.status = "processed"
    order.processed_by = f"pid {os.getpid()}"
    order.save(update_fields=["status", "processed_by"])
    return order.status


@on_commit_task()
def send_receipt(order_id):
    """Enqueued when the transaction that created the order commits: the order is there."""
    order = Order.objects.get(pk=order_id)
    Event.objects.create(kind="receipt", detail=f"{order.customer}:{order.total}", pid=os.getpid())
    return order.customer


@db_task()
@lock_task("inventory")
def recount_inventory():
    Event.objects.create(kind="inventory", pid=os.getpid())
    return Order.objects.count()


@db_periodic_task(crontab(minute="0", hour="3"))
def nightly_cleanup():
    Order.objects.filter(status="cancelled").delete()
