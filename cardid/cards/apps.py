from django.apps import AppConfig


class CardsConfig(AppConfig):
    name = "cardid.cards"
    label = "cards"
    verbose_name = "Card/ID numbers"

    def ready(self) -> None:
        from cardid.cards import jobs
        from cardid.jobs import runner

        runner.register("generate", jobs.generate)
        runner.register("print", jobs.print_cards)
