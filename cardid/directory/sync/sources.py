"""The configured sync source, built from the runtime options."""

from pathlib import Path

from cardid.config import services as config
from cardid.config.screens import NotConfigured
from cardid.directory.sync.base import SourceError, compile_card_regex, parse_additional_groups
from cardid.directory.sync.file import FileSource
from cardid.directory.sync.ldap import FIELDS, LdapConfig, LdapSource
from cardid.directory.sync.program import ProgramSource


def current():
    """The source `sync.source` names, configured; Invalid when there is none."""
    kind = config.get("sync.source")
    if kind == "none":
        raise NotConfigured("no sync source is chosen", "sync.source", "ldap|file|program")
    if kind == "file":
        return FileSource(config.get("sync.file.path"))
    if kind == "program":
        return ProgramSource(
            config.get("sync.program.path"), timeout=config.get("sync.program.timeout")
        )
    o = config.get_many(
        "sync.ldap.url",
        "sync.ldap.bind-dn",
        "sync.ldap.bind-password",
        "sync.ldap.base-dns",
        "sync.ldap.preset",
        "sync.ldap.user-filter",
        "sync.ldap.group-filter",
        "sync.ldap.starttls",
        "sync.ldap.verify-certificate",
        "sync.ldap.ca-file",
        "sync.ldap.card-regex",
        *[f"sync.ldap.attr.{f}" for f in FIELDS],
    )
    return LdapSource(
        LdapConfig(
            url=o["sync.ldap.url"],
            bind_dn=o["sync.ldap.bind-dn"],
            bind_password=o["sync.ldap.bind-password"],
            base_dns=o["sync.ldap.base-dns"],
            preset=o["sync.ldap.preset"],
            user_filter=o["sync.ldap.user-filter"],
            group_filter=o["sync.ldap.group-filter"],
            attrs={f: o[f"sync.ldap.attr.{f}"] for f in FIELDS if o[f"sync.ldap.attr.{f}"]},
            starttls=o["sync.ldap.starttls"],
            verify=o["sync.ldap.verify-certificate"],
            ca_file=o["sync.ldap.ca-file"],
            card_regex=compile_card_regex(o["sync.ldap.card-regex"]),
        )
    )


def additional_groups() -> dict[str, list[str]]:
    path = config.get("sync.additional-groups-file")
    if not path:
        return {}
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise SourceError(f"cannot read the additional groups file {path}: {e}") from None
    return parse_additional_groups(text)
