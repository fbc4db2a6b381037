from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "medcloud.accounts"
    label = "accounts"
