from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging"

    def ready(self):
        from messaging import bot, receivers, services

        services.register_actions()  # the built-in "Acknowledge" button
        bot.register()  # /help
        receivers.connect()  # rooms for new partnerships and tenants, socket access changes
