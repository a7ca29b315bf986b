"""``manage.py shop_demo``: place orders, enqueue every kind of task, wait for a running
consumer (``manage.py run_huey``) to do them, and print what happened as JSON."""

import json
import os
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from orders.models import Event, Order
from orders.tasks import add, process_order, recount_inventory, send_receipt


class Command(BaseCommand):
    help = "Place orders and wait for the consumer to run their tasks; prints JSON."

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, default=3)
        parser.add_argument("--timeout", type=float, default=30)
        parser.add_argument(
            "--reports", action="store_true", help="also use the reports queue's consumer"
        )

    def handle(self, *args, **options):
        timeout = options["timeout"]
        summary = {"pid": os.getpid()}

        with transaction.atomic():
            orders = [
                Order.objects.create(customer=f"customer-{i}", total=100 * (i + 1))
                for i in range(options["orders"])
            ]
            receipts = [send_receipt(order.pk) for order in orders]
            # Nothing is queued before the commit.
            from huey.contrib.djhuey import HUEY

            summary["pending_before_commit"] = HUEY.pending_count()
        processed = [process_order(order.pk) for order in orders]

        summary["add"] = add(1, 2).get(blocking=True, timeout=timeout)
        summary["scheduled_add"] = add.schedule((2, 3), delay=1).get(blocking=True, timeout=timeout)
        summary["processed"] = [r.get(blocking=True, timeout=timeout) for r in processed]
        summary["receipts"] = [r.get(blocking=True, timeout=timeout) for r in receipts]
        summary["inventory"] = recount_inventory().get(blocking=True, timeout=timeout)
        if options["reports"]:
            from reports.tasks import sales_report

            summary["report"] = sales_report().get(blocking=True, timeout=timeout)
        if getattr(settings, "TASKS", None):
            summary["django_tasks"] = self.django_tasks(timeout, options["reports"])

        summary["orders"] = sorted(
            (o.customer, o.status, o.processed_by)
            for o in Order.objects.filter(pk__in=[o.pk for o in orders])
        )
        summary["events"] = sorted((e.kind, e.detail, e.pid) for e in Event.objects.all())
        self.stdout.write(json.dumps(summary))

    def django_tasks(self, timeout, reports):
        from orders import jobs

        results = {
            "customer_total": jobs.customer_total.enqueue("customer-0"),
            "attempt_number": jobs.attempt_number.enqueue("first"),
            "refuse": jobs.refuse.enqueue("no thanks"),
            "double": jobs.double.enqueue(21),
        }
        if reports:
            results["order_count"] = jobs.order_count.enqueue()
        deadline = time.monotonic() + timeout
        out = {}
        for name, result in results.items():
            while not result.is_finished:
                if time.monotonic() > deadline:
                    raise CommandError(f"django task {name} still {result.status}")
                time.sleep(0.05)
                result.refresh()
            again = result.task.get_result(result.id)
            out[name] = {
                "status": str(result.status),
                "value": result.return_value if str(result.status) == "SUCCESSFUL" else None,
                "errors": [e.exception_class_path for e in result.errors],
                "attempts": result.attempts,
                "same_on_reread": again.status == result.status,
                "queue": result.task.queue_name,
            }
        return out
