from django.apps import AppConfig


class CryptoConfig(AppConfig):
    name = "medcloud.crypto"
    label = "crypto"
    verbose_name = "Encryption at rest"
