from django.apps import AppConfig
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


def _sku_url(tenant_slug, code):
    return reverse("inventory:sku", kwargs={"tenant": tenant_slug, "code": code})


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory"

    def ready(self):
        from inventory import bot, portal, texts
        from inventory.services import rules

        texts.register_texts()  # what its alerts, notices and bot answers say, per reader
        self.register_alert_kinds()
        rules.register_actions()  # "安排补货" on stock alert cards
        bot.register()  # /stock
        portal.register_portal()  # the Stock section and the dashboard's stock panels

    @staticmethod
    def register_alert_kinds():
        """The alerts the stock rules raise (inventory.services.rules): each about a SKU, shown as the
        API's and the board's `sku` and linked to the SKU's page."""
        from alerts.models import Severity
        from alerts.registry import AlertSubject, register_alert_kind
        from inventory.texts import render_stock_alert

        sku = AlertSubject(field="sku", subject_kind="sku", label=_("SKU"), per_label=_("Alerts per SKU"), url=_sku_url)
        register_alert_kind("low_stock", label=_("Below safety stock"), severity=Severity.WARNING, subject=sku,
                            render=render_stock_alert)
        register_alert_kind("reorder_point", label=_("Reorder point reached"), severity=Severity.INFO, subject=sku,
                            render=render_stock_alert)
        register_alert_kind("step_drop", label=_("Stock fell by a step"), severity=Severity.INFO, subject=sku,
                            render=render_stock_alert)
        register_alert_kind("velocity", label=_("Unusual consumption"), severity=Severity.WARNING, subject=sku,
                            render=render_stock_alert)
