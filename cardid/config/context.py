"""The organisation's name and logo for every page's header (a template context processor)."""

from cardid.config import services as config


def branding(request) -> dict:
    o = config.get_many("branding.name", "branding.logo")
    return {"branding": {"name": o["branding.name"], "logo": bool(o["branding.logo"])}}
