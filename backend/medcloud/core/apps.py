from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "medcloud.core"
    label = "core"
