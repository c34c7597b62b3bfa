from django.apps import AppConfig


class SyncConfig(AppConfig):
    """The sync engine: reads a source (cardid.directory.sync), plans the change against the
    database and applies it, numbers through the card ledger. It sits above cards; the
    source readers below it are part of the directory."""

    name = "cardid.sync"
    label = "sync"
    verbose_name = "User/group sync"

    def ready(self) -> None:
        from cardid.jobs import runner

        runner.register("sync", "cardid.sync.jobs.sync")
