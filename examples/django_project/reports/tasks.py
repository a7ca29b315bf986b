"""Reports run on their own queue (settings.HUEY_QUEUES["reports"]) and their own consumer."""

import os

from django.db.models import Sum
from orders.models import Event, Order

from huey.contrib.djhuey import db_task


@db_task(queue="reports")
def sales_report():
    total = Order.objects.aggregate(total=Sum("total"))["total"] or 0
    Event.objects.create(kind="report", detail=str(total), pid=os.getpid())
    return total
