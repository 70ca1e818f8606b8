from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FinanceConfig(AppConfig):
    name = "finance"
    verbose_name = "Finance"

    def ready(self):
        self.register_alert_kinds()

    @staticmethod
    def register_alert_kinds():
        """`financing_overdue`: a disbursed application not repaid by its maturity date
        (finance.services.financing_overdue_sweep); its title and body come from finance/cards.py."""
        from alerts.models import Severity
        from alerts.registry import register_alert_kind
        from finance.cards import financing_overdue_text

        register_alert_kind("financing_overdue", label=_("Financing overdue"), severity=Severity.CRITICAL,
                            render=financing_overdue_text)
