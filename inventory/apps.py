from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory"

    def ready(self):
        from inventory import bot, services  # noqa: F401  (registers the replenish button and bot intents)
