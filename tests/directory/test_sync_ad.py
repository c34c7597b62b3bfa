"""The Active Directory preset, replayed with ldap3's mock strategy (no AD runs here)."""

import ldap3
import pytest

from cardid.config.screens import NotConfigured
from cardid.directory.sync.base import compile_card_regex
from cardid.directory.sync.ldap import LdapConfig, LdapSource

BASE = "DC=corp,DC=example,DC=org"


def ad_connection():
    server = ldap3.Server("fake-ad", get_info=ldap3.OFFLINE_AD_2012_R2)
    conn = ldap3.Connection(
        server, user=f"CN=svc,{BASE}", password="pw", client_strategy=ldap3.MOCK_SYNC
    )
    conn.strategy.add_entry(f"CN=svc,{BASE}", {"userPassword": "pw", "sAMAccountName": "svc"})
    people = [
        (
            "Ann Smith",
            "asmith",
            {
                "mail": "ann@corp.org",
                "department": "Chem",
                "physicalDeliveryOfficeName": "B2",
                "pager": "0004711",
            },
        ),
        ("Bob Jones", "bjones", {"mail": "bob@corp.org", "employeeID": "E-42"}),
    ]
    for cn, sam, extra in people:
        conn.strategy.add_entry(
            f"CN={cn},OU=Staff,{BASE}",
            {
                "objectClass": ["top", "person", "organizationalPerson", "user"],
                "objectCategory": f"CN=Person,CN=Schema,CN=Configuration,{BASE}",
                "sAMAccountName": sam,
                "displayName": cn,
                **extra,
            },
        )
    conn.strategy.add_entry(
        f"CN=Printing,OU=Groups,{BASE}",
        {
            "objectClass": ["top", "group"],
            "cn": "Printing",
            "member": [f"CN=Ann Smith,OU=Staff,{BASE}", f"CN=Bob Jones,OU=Staff,{BASE}"],
        },
    )
    conn.bind()
    return conn


def source(**kw) -> LdapSource:
    return LdapSource(
        LdapConfig(
            url="ldaps://fake-ad",
            base_dns=BASE,
            preset="ad",
            user_filter="(objectClass=user)",
            **kw,
        )
    )


def test_ad_preset_reads_sam_account_name_display_name_and_pager():
    snap = source()._fetch(ad_connection())
    users = {u.username: u for u in snap.users if u.username != "svc"}
    ann = users["asmith"]
    assert (ann.full_name, ann.email, ann.department, ann.office, ann.primary) == (
        "Ann Smith",
        "ann@corp.org",
        "Chem",
        "B2",
        "0004711",
    )
    assert users["bjones"].primary == ""
    assert sorted(snap.groups["Printing"]) == ["asmith", "bjones"]


def test_a_configured_card_attribute_and_regex():
    src = source(
        attrs={"primary-card": "employeeID", "secondary-card": "pager"},
        card_regex=compile_card_regex(r"(\d+)"),
    )
    users = {u.username: u for u in src._fetch(ad_connection()).users}
    assert users["bjones"].primary == "42"
    assert users["asmith"].secondary == "0004711"


@pytest.mark.parametrize("missing", ["sync.ldap.url", "sync.ldap.base-dns"])
def test_missing_settings_are_named(missing):
    """By the field on the screen (the command line adds `cardid config set KEY`)."""
    kw = {
        "url": "" if missing == "sync.ldap.url" else "ldap://x",
        "base_dns": "" if missing == "sync.ldap.base-dns" else BASE,
    }
    with pytest.raises(NotConfigured, match="fill in Options › User/Group Sync › LDAP") as e:
        LdapSource(LdapConfig(**kw))
    assert e.value.field == missing
