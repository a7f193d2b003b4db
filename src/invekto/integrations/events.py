"""The automation events integrations raise (``automation.service.emit``), registered when the
app starts so rules can listen for them. ``data`` carries the order or payment as the rule's
actions and conditions see it (documented in docs/integrations.md)."""

from __future__ import annotations

from invekto.automation.events import EventKind, register
from invekto.core.i18n import N_

# A shop told us of an order (Shopify's webhooks): about the contact whose phone or e-mail it
# carries, and that contact's latest conversation when there is one, so that a rule can send
# the order's confirmation there (with none, such an action fails and the run says so).
ORDER_CREATED = register(EventKind("order_created", N_("Order placed"),
                                   options=("source",))).kind
ORDER_UPDATED = register(EventKind("order_updated", N_("Order status changed"),
                                   options=("source", "state"))).kind
ORDER_SHIPPED = register(EventKind("order_shipped", N_("Order shipped"),
                                   options=("source",))).kind
# A payment link sent in a conversation was paid, or its payment failed.
PAYMENT_RECEIVED = register(EventKind("payment_received", N_("Payment received"),
                                      options=("provider",))).kind
PAYMENT_FAILED = register(EventKind("payment_failed", N_("Payment failed"),
                                    options=("provider",))).kind
