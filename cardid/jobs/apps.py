from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "cardid.jobs"
    label = "jobs"
    verbose_name = "Jobs"
