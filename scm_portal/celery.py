import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scm_portal.settings.base")

app = Celery("scm_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(lambda: ["scm_portal.tenancy", "messaging", "orders", "inventory", "finance"])
