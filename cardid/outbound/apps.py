from django.apps import AppConfig


class OutboundConfig(AppConfig):
    name = "cardid.outbound"
    label = "outbound"
    verbose_name = "Outbound"

    def ready(self) -> None:
        from cardid.cards import signals as cards
        from cardid.directory import signals as directory
        from cardid.outbound import services

        cards.numbers_changed.connect(services.on_numbers_changed, dispatch_uid="outbound")
        directory.users_changed.connect(services.on_users_changed, dispatch_uid="outbound")
