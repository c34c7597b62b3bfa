"""Where webhooks may go (cardid.destinations, no Django): the tricks that reach this
machine or the cloud metadata service by another spelling are refused."""

import ipaddress

import pytest

from cardid import destinations as d

EVERYWHERE = d.parse_allowed("")


@pytest.mark.parametrize(
    "url",
    [
        "http://0x7f.1/",
        "http://2130706433/",
        "http://127.1/",
        "http://0177.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::1]/",
    ],
)
def test_this_machine_by_any_spelling_needs_listing(url):
    target = d.parse_url(url)
    with pytest.raises(d.Refused, match="this machine"):
        d.usable(target, d.resolve(target), EVERYWHERE)
    listed = d.parse_allowed("127.0.0.0/8 ::1")
    assert d.usable(target, d.resolve(target), listed)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:169.254.169.254]/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
    ],
)
def test_link_local_multicast_and_unspecified_are_never_allowed(url):
    target = d.parse_url(url)
    listed = d.parse_allowed("0.0.0.0/0 ::/0")
    with pytest.raises(d.Refused):
        d.usable(target, d.resolve(target), listed)


def test_a_domain_allows_its_hosts_but_never_this_machine_through_them():
    allowed = d.parse_allowed("*.example.org 10.0.0.0/8")
    tills = d.parse_url("https://tills.example.org/hook")
    public = [ipaddress.ip_address("192.0.2.10")]
    assert d.usable(tills, public, allowed) == public
    with pytest.raises(d.Refused, match="this machine"):
        d.usable(tills, [ipaddress.ip_address("127.0.0.1")], allowed)  # a rebinding name
    other = d.parse_url("https://example.net/")
    with pytest.raises(d.Refused, match="not among the hosts"):
        d.usable(other, public, allowed)
    inside = [ipaddress.ip_address("10.1.2.3")]
    assert d.usable(other, inside, allowed) == inside  # by its network


def test_the_host_header_keeps_a_non_default_port():
    assert d.parse_url("https://h.example.org/x?a=1").host_header == "h.example.org"
    assert d.parse_url("http://[::1]:8080/").host_header == "[::1]:8080"
    assert d.parse_url("https://h.example.org:8443/x?a=1").path == "/x?a=1"


@pytest.mark.parametrize(
    "url",
    [
        "http://[fd00:ec2::254]/",  # AWS's metadata service over IPv6
        "http://100.100.100.200/",  # Alibaba's
        "http://100.64.0.1/",  # carrier-grade NAT
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
        "http://[64:ff9b:1::a9fe:a9fe]/",  # local-use NAT64
        "http://[2002:a9fe:a9fe::1]/",  # 6to4 of 169.254.169.254
    ],
)
def test_metadata_services_nat64_and_carrier_grade_nat_are_never_allowed(url):
    target = d.parse_url(url)
    for allowed in (EVERYWHERE, d.parse_allowed("0.0.0.0/0 ::/0")):
        with pytest.raises(d.Refused):
            d.usable(target, d.resolve(target), allowed)


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.5/", "http://172.20.1.1/", "http://192.168.1.10/", "http://[fd12:3456::1]/"],
)
def test_private_networks_are_opt_in(url):
    target = d.parse_url(url)
    with pytest.raises(d.Refused, match="in a private network; list the host or its network"):
        d.usable(target, d.resolve(target), EVERYWHERE)
    listed = d.parse_allowed("10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fc00::/7")
    assert d.usable(target, d.resolve(target), listed)


def test_a_private_address_behind_an_allowed_domain_is_refused():
    allowed = d.parse_allowed("*.example.org")
    tills = d.parse_url("https://tills.example.org/hook")
    with pytest.raises(d.Refused, match="private network"):
        d.usable(tills, [ipaddress.ip_address("192.168.1.10")], allowed)
