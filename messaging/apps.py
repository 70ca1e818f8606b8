from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging"

    def ready(self):
        from messaging import bot, receivers, services  # noqa: F401  (register built-in actions, intents, receivers)
