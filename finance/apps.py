from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FinanceConfig(AppConfig):
    name = "finance"
    verbose_name = "Finance"

    def ready(self):
        from finance import cards, portal

        cards.register_texts()  # what finance's cards and alerts say, per reader
        self.register_alert_kinds()
        self.register_subjects()
        from finance import actions, bot

        actions.register_actions()  # approve / reject / disburse on the financing cards
        bot.register()  # "我想融资" / "I want financing", /financing
        portal.register_portal()  # the Financing pages' section and dashboard panel
        from finance import trails

        trails.register()  # the application's audit trail (financing-applications/{id}/trail.pdf)
        from finance.retention import register_retention_holds

        register_retention_holds()  # messages about open financing are kept (audit.retention)

    @staticmethod
    def register_subjects():
        """Messages may be linked to an invoice or a financing application (`subject`), resolved only
        among the records the user may see."""
        from finance.actions import financing_application_states
        from finance.models import FinancingApplication, Invoice
        from messaging import registry
        from scm_portal.db.ids import row_id

        def resolver(model):
            def resolve(*, tenant, user, ref):
                pk = row_id(ref)
                if pk is None:
                    return None
                return model.objects.for_tenant(tenant).visible_to(user).filter(pk=pk).first()
            return resolve

        registry.register_subject("invoice", resolve=resolver(Invoice), label=lambda invoice: invoice.number)
        registry.register_subject("financing_application", resolve=resolver(FinancingApplication),
                                  label=lambda application: f"FA-{application.pk}", state=financing_application_states)

    @staticmethod
    def register_alert_kinds():
        """`financing_overdue`: a disbursed application not repaid by its maturity date
        (finance.services.financing_overdue_sweep); its title and body come from finance/cards.py."""
        from alerts.models import Severity
        from alerts.registry import AlertSubject, register_alert_kind
        from finance.cards import financing_overdue_text
        from finance.links import application_url

        # Its subject is the application (subject_kind financing_application, its id): the board,
        # the alert's API and its page link to it.
        subject = AlertSubject(field="financing_application", subject_kind="financing_application",
                               label=_("Financing application"), per_label=_("Alerts per financing application"),
                               url=application_url)
        register_alert_kind("financing_overdue", label=_("Financing overdue"), severity=Severity.CRITICAL,
                            subject=subject, render=financing_overdue_text)
