from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "cardid.api"
    label = "api"
    verbose_name = "API"

    def ready(self) -> None:
        # Every XML-RPC body is parsed by defusedxml's expat parser: no entity expansion,
        # no external entities, no decompression bombs.
        from defusedxml import xmlrpc

        xmlrpc.monkey_patch()
