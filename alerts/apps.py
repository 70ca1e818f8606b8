from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self):
        from alerts import actions, bot, models

        models.register_lookups()  # state__is / state__is_not, which the services' reads use
        actions.register()  # the buttons on alert cards and the `alert` subject of messages
        bot.register()  # /alerts
        # The alert frames published with cards a process never received are read again with them.
        import realtime
        from alerts.services import alert_live_events

        realtime.register_recoverable_subject("alert", alert_live_events)
