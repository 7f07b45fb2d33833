"""Which callback URLs webhooks may go to: public addresses, or what the allowlist admits."""

import ipaddress

import pytest

from reference_services.notification.domain.callback_urls import (
    Allowlist,
    RefusedUrl,
    check,
    host_of,
    parse,
)

PUBLIC = ipaddress.ip_address("93.184.216.34")


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("172.31.255.255", "private"),
        ("192.168.0.1", "private"),
        ("fd00:ec2::254", "private"),
        ("100.100.100.200", "not a public address"),  # Alibaba's metadata, carrier-grade NAT
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "private|reserved"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
    ],
)
def test_non_public_addresses_are_refused_with_the_reason(address: str, reason: str) -> None:
    with pytest.raises(RefusedUrl, match=reason):
        check("http://hooks.example/x", [ipaddress.ip_address(address)], Allowlist())


def test_a_public_address_passes() -> None:
    check("https://hooks.example/x", [PUBLIC], Allowlist())


def test_one_private_address_among_public_ones_refuses_the_host() -> None:
    with pytest.raises(RefusedUrl, match=r"10\.0\.0\.1"):
        check("https://hooks.example/x", [PUBLIC, ipaddress.ip_address("10.0.0.1")], Allowlist())


def test_a_host_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(RefusedUrl, match="does not resolve"):
        check("https://hooks.example/x", [], Allowlist())


def test_the_allowlist_admits_networks_and_exact_host_names() -> None:
    allow = Allowlist.parse(" 127.0.0.1/32, 10.20.0.0/16 ,hooks.internal., ")

    check("http://127.0.0.1:8080/x", [ipaddress.ip_address("127.0.0.1")], allow)
    check("http://svc/x", [ipaddress.ip_address("10.20.3.4")], allow)
    check("http://HOOKS.internal/x", [ipaddress.ip_address("10.99.0.1")], allow)
    with pytest.raises(RefusedUrl):
        check("http://svc/x", [ipaddress.ip_address("10.21.0.1")], allow)
    with pytest.raises(RefusedUrl):
        check("http://127.0.0.2/x", [ipaddress.ip_address("127.0.0.2")], allow)
    with pytest.raises(RefusedUrl, match="link-local"):
        check("http://169.254.169.254/", [ipaddress.ip_address("169.254.169.254")], allow)


@pytest.mark.parametrize("host", ["localhost", "vm", "127.1", "2130706433", "[::ffff:127.0.0.1]"])
def test_a_bare_address_admits_only_urls_naming_it_not_names_resolving_to_it(host: str) -> None:
    allow = Allowlist.parse("127.0.0.1, [::1]")

    check("http://127.0.0.1:8080/x", [ipaddress.ip_address("127.0.0.1")], allow)
    check("http://[::1]:8080/x", [ipaddress.ip_address("::1")], allow)
    with pytest.raises(RefusedUrl, match="loopback"):
        check(f"http://{host}:8080/x", [ipaddress.ip_address("127.0.0.1")], allow)


def test_an_allowlist_entry_with_a_slash_must_be_a_network() -> None:
    with pytest.raises(ValueError, match="not a network"):
        Allowlist.parse("127.0.0.1/33")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("http:///x", "no host"),
        ("http://user:pw@example.com/x", "credentials"),
        ("http://example.com:99999/x", "not a valid URL"),
        ("example.com/x", "only http and https"),
    ],
)
def test_malformed_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(RefusedUrl, match=message):
        parse(url)


def test_the_host_is_compared_in_lower_case_without_a_trailing_dot() -> None:
    assert host_of("https://Hooks.Example./x") == "hooks.example"
