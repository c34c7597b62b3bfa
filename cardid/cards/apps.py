from django.apps import AppConfig


class CardsConfig(AppConfig):
    name = "cardid.cards"
    label = "cards"
    verbose_name = "Card/ID numbers"

    def ready(self) -> None:
        from cardid.jobs import runner

        runner.register("generate", "cardid.cards.jobs.generate")
        runner.register("print", "cardid.cards.jobs.print_cards")
