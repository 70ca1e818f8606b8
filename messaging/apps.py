from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging"

    def ready(self):
        from messaging import bot, portal, receivers, services

        services.register_actions()  # the built-in "Acknowledge" button
        bot.register()  # /help
        portal.register_portal()  # the Messages section and the dashboard's unread rooms
        receivers.connect()  # rooms for new partnerships and tenants, socket access changes
