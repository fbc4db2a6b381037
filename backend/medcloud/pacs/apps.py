from django.apps import AppConfig


class PacsConfig(AppConfig):
    name = "medcloud.pacs"
    label = "pacs"
    verbose_name = "PACS: patients, studies, DICOMweb"
