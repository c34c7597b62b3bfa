from django.apps import AppConfig


class CardsConfig(AppConfig):
    name = "cardid.cards"
    label = "cards"
    verbose_name = "Card/ID numbers"
