"""The SMTP connection as the options describe it: Django's SMTP backend with our TLS rules."""

import ssl
from dataclasses import dataclass

from django.core.mail.backends.smtp import EmailBackend
from django.utils.functional import cached_property

from cardid.config import services as config
from cardid.config.screens import NotConfigured


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    username: str
    password: str
    sender: str
    verify: bool
    ca_file: str
    timeout: int


def current_settings() -> SmtpSettings:
    o = config.get_many(
        "smtp.host",
        "smtp.port",
        "smtp.security",
        "smtp.username",
        "smtp.password",
        "smtp.from",
        "smtp.verify-certificate",
        "smtp.ca-file",
        "smtp.timeout",
    )
    s = SmtpSettings(
        host=o["smtp.host"],
        port=o["smtp.port"],
        security=o["smtp.security"],
        username=o["smtp.username"],
        password=o["smtp.password"],
        sender=o["smtp.from"],
        verify=o["smtp.verify-certificate"],
        ca_file=o["smtp.ca-file"],
        timeout=o["smtp.timeout"],
    )
    if not s.host:
        raise NotConfigured("no mail server is set", "smtp.host", "mail.example.org")
    if not s.sender:
        raise NotConfigured("no sender address is set", "smtp.from", "cardid@example.org")
    return s


class Backend(EmailBackend):
    """Django's SMTP backend; the certificate check follows smtp.verify-certificate and
    smtp.ca-file instead of Django's settings."""

    def __init__(self, settings: SmtpSettings):
        super().__init__(
            host=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password,
            use_tls=settings.security == "starttls",
            use_ssl=settings.security == "tls",
            timeout=settings.timeout,
        )
        self.verify = settings.verify
        self.ca_file = settings.ca_file

    @cached_property
    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file or None)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context
