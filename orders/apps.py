import functools

from django.apps import AppConfig
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


def _po_url(tenant_slug, number):
    return reverse("orders:detail", kwargs={"tenant": tenant_slug, "number": number})


def _resolve_purchase_order(*, tenant, user, ref):
    """A message's subject {"kind": "purchase_order", "id": number}: the PO as the user may see it."""
    from orders.selectors import purchase_order_get
    from scm_portal.tenancy.access import tenant_context_for

    return purchase_order_get(user, tenant, ref, context=tenant_context_for(user, tenant))


def _render_unconfirmed(alert):
    title = _("Purchase order %(number)s is not confirmed") % {"number": alert.subject_ref}
    body = _("The supplier has not answered it within the time the tenant set.")
    return title, body


@functools.cache
def purchase_order_alert_subject():
    """What the orders' alerts about a PO are about (one definition for every such kind: the
    alerts registry refuses two different subjects under one field)."""
    from alerts.registry import AlertSubject

    return AlertSubject(field="purchase_order", subject_kind="purchase_order", label=_("Purchase order"),
                        per_label=_("Alerts per purchase order"), url=_po_url)


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders"

    def ready(self):
        from messaging import registry
        from orders import actions, bot, portal

        bot.register()  # /po, /eta, /pending

        registry.register_subject("purchase_order", resolve=_resolve_purchase_order, label=lambda order: order.number,
                                  state=actions.purchase_order_states)
        actions.register_actions()  # the PO cards' texts; "Confirm order", accept / reject changes
        self.register_alert_kinds()
        portal.register_portal()  # the Purchase orders, Shipments and Scorecards sections, "POs awaiting me"
        from orders import trails

        trails.register()  # the PO's audit trail (purchase-orders/{number}/trail.pdf)

    @staticmethod
    def register_alert_kinds():
        from alerts.models import Severity
        from alerts.registry import register_alert_kind
        from orders import logistics_alerts

        register_alert_kind("po_unconfirmed", label=_("Purchase order not confirmed"), severity=Severity.WARNING,
                            subject=purchase_order_alert_subject(), render=_render_unconfirmed)
        logistics_alerts.register_alert_kinds()  # route_deviation, abnormal_stop, shipment_late, quality_hold
