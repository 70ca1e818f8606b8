from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self):
        import realtime
        from alerts import actions, bot, models, portal
        from alerts.services import alert_live_events

        models.register_lookups()  # state__is / state__is_not, which the services' reads use
        actions.register()  # the buttons on alert cards and the `alert` subject of messages
        bot.register()  # /alerts
        # The alert frames published with cards a process never received are read again with them.
        realtime.register_recoverable_subject("alert", alert_live_events)
        portal.register_portal()  # the Alerts section and the dashboard's alerts panel
        from alerts import trails

        trails.register()  # the alert's audit trail (alerts/{id}/trail.pdf)
