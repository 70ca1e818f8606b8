from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self):
        from alerts import actions, bot

        actions.register()  # the buttons on alert cards and the `alert` subject of messages
        bot.register()  # /alerts
