"""Cargo carriers: the names Trendyol and Hepsiburada give them, one display name each, and the
public tracking page for a number (none for a carrier we do not know)."""

from __future__ import annotations

import pytest

from invekto.integrations import carriers

NAMES = [
    ("Yurtiçi Kargo Marketplace", "yurtici"),
    ("YURTICI KARGO", "yurtici"),
    ("Aras Kargo Marketplace", "aras"),
    ("MNG Kargo Marketplace", "mng"),
    ("DHL eCommerce Marketplace", "mng"),  # MNG Kargo's name since 2023
    ("PTT Kargo Marketplace", "ptt"),
    ("Sürat Kargo Marketplace", "surat"),
    ("SÜRAT KARGO", "surat"),
    ("Trendyol Express Marketplace", "trendyol_express"),
    ("TEX", "trendyol_express"),
    ("hepsiJET", "hepsijet"),
    ("HepsiJet XL", "hepsijet"),
    ("Kolay Gelsin Marketplace", "kolay_gelsin"),
    ("Sendeo Marketplace", "sendeo"),
    ("UPS Kargo Marketplace", "ups"),
    ("DHL Express", "dhl"),
    ("Horoz Lojistik Marketplace", "horoz"),
]


@pytest.mark.parametrize(("name", "code"), NAMES)
def test_marketplace_carrier_names_are_recognised(name, code):
    assert carriers.find(name).code == code


def test_unknown_or_empty_carriers_get_their_own_name_and_no_link():
    assert carriers.find("Bilinmeyen Taşıyıcı") is None
    assert carriers.display_name("Bilinmeyen Taşıyıcı") == "Bilinmeyen Taşıyıcı"
    assert carriers.tracking_url("Bilinmeyen Taşıyıcı", "123") is None
    assert carriers.display_name(None) is None and carriers.display_name("  ") is None
    assert carriers.tracking_url("Aras Kargo", None) is None
    # A carrier known by name but without a public tracking page: no guessed link.
    assert carriers.display_name("Horoz Lojistik Marketplace") == "Horoz Lojistik"
    assert carriers.tracking_url("Horoz Lojistik Marketplace", "H1") is None


@pytest.mark.parametrize(("name", "url"), [
    ("Yurtiçi Kargo Marketplace",
     "https://www.yurticikargo.com/tr/online-servisler/gonderi-sorgula?code=7330001234567"),
    ("Aras Kargo", "https://kargotakip.araskargo.com.tr/mainpage.aspx?code=7330001234567"),
    ("MNG Kargo", "https://kargotakip.mngkargo.com.tr/?takipNo=7330001234567"),
    ("PTT Kargo", "https://gonderitakip.ptt.gov.tr/Track/Verify?q=7330001234567"),
    ("Sürat Kargo",
     "https://www.suratkargo.com.tr/KargoTakip/?kargotakipno=7330001234567"),
    ("HepsiJet", "https://www.hepsijet.com/gonderi-takibi/7330001234567"),
    ("Trendyol Express Marketplace",
     "https://kargotakip.trendyol.com/?trackingNumber=7330001234567"),
    ("UPS", "https://www.ups.com/track?loc=tr_TR&tracknum=7330001234567"),
])
def test_tracking_links_put_the_number_in_each_carriers_page(name, url):
    assert carriers.tracking_url(name, "7330001234567") == url


def test_a_tracking_number_is_escaped_in_the_link():
    assert carriers.tracking_url("PTT", "A B&c=1") == (
        "https://gonderitakip.ptt.gov.tr/Track/Verify?q=A%20B%26c%3D1")
