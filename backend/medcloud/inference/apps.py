from django.apps import AppConfig


class InferenceConfig(AppConfig):
    name = "medcloud.inference"
    label = "inference"
    verbose_name = "AI models and inference jobs"
