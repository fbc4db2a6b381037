from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "medcloud.audit"
    label = "audit"
