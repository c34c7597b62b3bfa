from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "cardid.directory"
    label = "directory"
    verbose_name = "Directory"
