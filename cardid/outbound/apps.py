from django.apps import AppConfig


class OutboundConfig(AppConfig):
    name = "cardid.outbound"
    label = "outbound"
    verbose_name = "Outbound"

    def ready(self) -> None:
        from cardid.cards import signals as cards
        from cardid.directory import signals as directory
        from cardid.receivers import listen

        listen(cards.numbers_changed, "cardid.outbound.services.on_numbers_changed", "outbound")
        listen(directory.users_changed, "cardid.outbound.services.on_users_changed", "outbound")
