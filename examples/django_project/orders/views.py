from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST

from orders.models import Order
from orders.tasks import process_order, send_receipt


@require_POST
def place_order(request: HttpRequest) -> JsonResponse:
    """Create an order; it is processed and its receipt sent once the transaction commits."""
    with transaction.atomic():
        order = Order.objects.create(
            customer=request.POST["customer"], total=int(request.POST["total"])
        )
        transaction.on_commit(lambda: process_order(order.pk))
        receipt = send_receipt(order.pk)
    return JsonResponse({"order": order.pk, "receipt": receipt.id if receipt else None})
