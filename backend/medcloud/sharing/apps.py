from django.apps import AppConfig


class SharingConfig(AppConfig):
    name = "medcloud.sharing"
    label = "sharing"
    verbose_name = "Sharing: user groups and study grants"
