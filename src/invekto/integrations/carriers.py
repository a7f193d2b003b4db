"""Turkish cargo carriers: the names marketplaces give them ("Trendyol Express Marketplace",
"YURTICI KARGO", "Aras Kargo Marketplace"...) as one display name, and the public page where a
customer follows a parcel by its tracking number.

Marketplaces usually send their own tracking link (Trendyol's ``cargoTrackingLink``); these
templates are for when they do not. None of the carriers documents its public tracking URL as
an API: the templates are the pages their websites link to, as widely used in public code
(see docs/integrations.md, "Cargo tracking links"). A carrier we do not know gets no link
rather than a guessed one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Carrier:
    code: str
    name: str  # how we show it
    tracking_url: str | None  # ``{number}`` is replaced by the tracking number
    aliases: tuple[str, ...]  # normalised name fragments that mean this carrier


# Order matters where one alias contains another: "trendyol express" before anything shorter,
# "hepsijet" before "hepsi".
CARRIERS: tuple[Carrier, ...] = (
    Carrier("trendyol_express", "Trendyol Express",
            "https://kargotakip.trendyol.com/?trackingNumber={number}",
            ("trendyol express", "trendyolexpress", "tex", "trendyol")),
    Carrier("hepsijet", "HepsiJet", "https://www.hepsijet.com/gonderi-takibi/{number}",
            ("hepsijet", "hepsi jet", "hepsi express", "hepsiexpress")),
    Carrier("yurtici", "Yurtiçi Kargo",
            "https://www.yurticikargo.com/tr/online-servisler/gonderi-sorgula?code={number}",
            ("yurtici", "yurt ici")),
    Carrier("aras", "Aras Kargo",
            "https://kargotakip.araskargo.com.tr/mainpage.aspx?code={number}", ("aras",)),
    Carrier("mng", "MNG Kargo", "https://kargotakip.mngkargo.com.tr/?takipNo={number}",
            ("mng", "dhl ecommerce", "dhl e-commerce")),
    Carrier("ptt", "PTT Kargo", "https://gonderitakip.ptt.gov.tr/Track/Verify?q={number}",
            ("ptt",)),
    Carrier("surat", "Sürat Kargo",
            "https://www.suratkargo.com.tr/KargoTakip/?kargotakipno={number}", ("surat",)),
    Carrier("kolay_gelsin", "Kolay Gelsin",
            "https://esube.kolaygelsin.com/shipments?trackingId={number}",
            ("kolay gelsin", "kolaygelsin")),
    Carrier("sendeo", "Sendeo", "https://www.sendeo.com.tr/gonderi-takip?barcode={number}",
            ("sendeo",)),
    Carrier("ups", "UPS", "https://www.ups.com/track?loc=tr_TR&tracknum={number}", ("ups",)),
    Carrier("dhl", "DHL",
            "https://www.dhl.com/tr-tr/home/tracking.html?tracking-id={number}&submit=1",
            ("dhl",)),
    Carrier("horoz", "Horoz Lojistik", None, ("horoz",)),
    Carrier("ceva", "CEVA Lojistik", None, ("ceva",)),
    Carrier("borusan", "Borusan Lojistik", None, ("borusan",)),
)

_TURKISH = str.maketrans("çğıöşüÇĞİÖŞÜâîû", "cgiosuCGIOSUaiu")
# What marketplaces add to a carrier's name and tells nothing of who carries the parcel.
_NOISE = re.compile(r"\b(marketplace|kargo|cargo|lojistik|logistics|a\.?s\.?|"
                    r"gonderi|tasimacilik|hizmetleri)\b")


def normalise(name: str) -> str:
    """A carrier name reduced for matching: lower case, without Turkish letters or the words
    every carrier's name has ("Kargo", "Marketplace")."""
    lowered = name.translate(_TURKISH).lower().replace("i̇", "i")
    lowered = re.sub(r"[^a-z0-9.\- ]+", " ", lowered)
    return " ".join(_NOISE.sub(" ", lowered).split())


def find(name: str | None) -> Carrier | None:
    """The carrier a marketplace's name means, or None."""
    if not name:
        return None
    reduced = normalise(name)
    squashed = reduced.replace(" ", "")
    for carrier in CARRIERS:
        for alias in carrier.aliases:
            if " " in alias and alias in reduced:
                return carrier
            if " " not in alias and (alias in reduced.split() or (
                    len(alias) > 4 and alias in squashed)):
                return carrier
    return None


def display_name(name: str | None) -> str | None:
    """How we show a carrier: its usual name when we know it, else the marketplace's words."""
    carrier = find(name)
    if carrier is not None:
        return carrier.name
    return name.strip() or None if name else None


def tracking_url(name: str | None, number: str | None) -> str | None:
    """The carrier's public tracking page for ``number``; None when the carrier or its page is
    unknown."""
    if not number:
        return None
    carrier = find(name)
    if carrier is None or carrier.tracking_url is None:
        return None
    return carrier.tracking_url.replace("{number}", quote(number.strip(), safe=""))
