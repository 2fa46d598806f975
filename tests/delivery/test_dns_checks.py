from __future__ import annotations

from delivery import dns as dnscheck
from delivery.keys import dkim_record_value, generate_rsa


def test_dkim_record_found_with_the_right_key(dns_zone):
    pair = generate_rsa()
    dns_zone["s1._domainkey.shop.example"] = [dkim_record_value("rsa", pair.public_key)]
    check = dnscheck.check_dkim("dkim_rsa", "s1._domainkey.shop.example", "", pair.public_key)
    assert (check.status, check.message) == ("ok", "")


def test_dkim_record_with_another_key_is_wrong(dns_zone):
    dns_zone["s1._domainkey.shop.example"] = [dkim_record_value("rsa", generate_rsa().public_key)]
    check = dnscheck.check_dkim(
        "dkim_rsa", "s1._domainkey.shop.example", "", generate_rsa().public_key
    )
    assert check.status == "wrong"
    assert (
        check.message
        == "The record at s1._domainkey.shop.example does not carry this domain's key."
    )


def test_missing_records_are_reported_by_name(dns_zone):
    assert dnscheck.check_dkim("dkim_rsa", "s1._domainkey.none.example", "", "x").message == (
        "No TXT record at s1._domainkey.none.example."
    )
    assert dnscheck.check_spf("none.example", "_spf.tayori.example").status == "missing"
    assert dnscheck.check_dmarc("none.example").message == "No DMARC record at _dmarc.none.example."


def test_spf_must_include_our_relays(dns_zone):
    dns_zone["shop.example"] = ["v=spf1 include:_spf.other.example ~all", "google-site=x"]
    check = dnscheck.check_spf("shop.example", "_spf.tayori.example")
    assert (check.status, check.message) == (
        "wrong",
        "The SPF record does not include _spf.tayori.example.",
    )
    dns_zone["shop.example"] = ["v=spf1 include:_spf.tayori.example -all"]
    assert dnscheck.check_spf("shop.example", "_spf.tayori.example").status == "ok"


def test_two_spf_records_are_an_error(dns_zone):
    dns_zone["shop.example"] = ["v=spf1 include:_spf.tayori.example ~all", "v=spf1 -all"]
    assert dnscheck.check_spf("shop.example", "_spf.tayori.example").status == "wrong"


def test_dmarc_needs_a_policy(dns_zone):
    dns_zone["_dmarc.shop.example"] = ["v=DMARC1; rua=mailto:x@shop.example"]
    assert dnscheck.check_dmarc("shop.example").status == "wrong"
    dns_zone["_dmarc.shop.example"] = ["v=DMARC1; p=quarantine"]
    assert dnscheck.check_dmarc("shop.example").status == "ok"


def test_a_silent_resolver_is_unavailable_not_missing(settings):
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # bound but never answers
        settings.DNS_NAMESERVERS = [f"127.0.0.1:{silent.getsockname()[1]}"]
        settings.DNS_TIMEOUT = 0.5
        check = dnscheck.check_dmarc("shop.example")
    assert check.status == "unavailable"
    assert check.message.startswith("DNS did not answer")
