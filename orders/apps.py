from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders"

    def ready(self):
        from orders import logistics_alerts

        logistics_alerts.register_alert_kinds()  # route_deviation, abnormal_stop, shipment_late, quality_hold
