from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self):
        from alerts import actions, bot, models, portal

        models.register_lookups()  # state__is / state__is_not, which the services' reads use
        actions.register()  # the buttons on alert cards and the `alert` subject of messages
        bot.register()  # /alerts
        portal.register_portal()  # the Alerts section and the dashboard's alerts panel
