from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "medcloud.accounts"
    label = "accounts"

    def ready(self) -> None:
        from djoser import signals

        from . import schema  # noqa: F401  (OpenAPI description of the API-token authentication)

        signals.user_activated.connect(_record_activation, dispatch_uid="medcloud.accounts.activation")


def _record_activation(sender, user, request, **kwargs) -> None:
    from .services import activation_recorded

    activation_recorded(user=user, request=request)
