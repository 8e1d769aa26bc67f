"""The Celery application: Redis as broker, job state kept in the database."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studiosim.settings")

app = Celery("studiosim")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
