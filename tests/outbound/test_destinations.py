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
