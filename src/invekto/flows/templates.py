"""Ready-made flows for the three kinds of customers, in Turkish: a clinic (price question →
services → appointment request → handoff), a hotel (room question → dates and guests →
handoff with a summary) and an online shop (order status by order number → look-up → answer).

They name nothing a new company lacks (no custom field, tag or group: the handoff goes to the
channel's routing until the company picks a group), so each publishes as it is. The shop's
order look-up needs an integration that offers the ``order_status`` look-up; none exists yet,
so while none is registered the flow hands the conversation over with the order number in the
note, and once one is, the same template looks the order up and answers (its answer's
``status``), handing over only when the order is not found."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from invekto.flows import steps

ORDER_STATUS = "order_status"


def _laid_out(nodes: dict[str, dict]) -> dict[str, dict]:
    """Positions for the builder: the steps left to right in the order written."""
    return {node_id: {**node, "x": 40 + 260 * (n % 5), "y": 60 + 200 * (n // 5)}
            for n, (node_id, node) in enumerate(nodes.items())}


def clinic() -> dict:
    services = ["Diş beyazlatma", "İmplant", "Ortodonti (tel)", "Genel muayene", "Diğer"]
    nodes = {
        "welcome": {"type": "message", "text": "Merhaba {{ contact.first_name }}! "
                    "{{ company.name }} olarak size yardımcı olmaktan mutluluk duyarız.",
                    "next": "menu"},
        "menu": {"type": "question", "text": "Size nasıl yardımcı olabiliriz?",
                 "style": "buttons", "options": [
                     {"id": "fiyat", "title": "Fiyat bilgisi", "next": "services"},
                     {"id": "randevu", "title": "Randevu almak", "next": "name"},
                     {"id": "diger", "title": "Başka bir konu", "next": "handoff_other"}],
                 "save_as": "konu", "invalid_text": "Lütfen seçeneklerden birini seçin.",
                 "timeout_minutes": None, "timeout_next": None},
        "services": {"type": "question",
                     "text": "Hangi tedavimiz hakkında bilgi almak istersiniz?",
                     "style": "list", "button": "Tedaviler", "options": [
                         {"id": f"s{n}", "title": title, "next": "prices"}
                         for n, title in enumerate(services, 1)],
                     "save_as": "hizmet", "invalid_text": "Lütfen listeden bir tedavi seçin.",
                     "timeout_minutes": None, "timeout_next": None},
        "prices": {"type": "message", "text": "{{ var.hizmet }} ücretlerimiz muayene "
                   "sonrasında size özel belirlenir. İlk muayene için bir randevu "
                   "oluşturalım.", "next": "name"},
        "name": {"type": "input", "text": "Adınız ve soyadınız nedir?",
                 "save_to": "contact.name", "validate": "text", "invalid_text": "",
                 "next": "phone", "timeout_minutes": None, "timeout_next": None},
        "phone": {"type": "input", "text": "Size ulaşabileceğimiz telefon numaranız nedir?",
                  "save_to": "contact.phone", "validate": "phone",
                  "invalid_text": "Lütfen geçerli bir telefon numarası yazın "
                  "(örneğin 0532 123 45 67).", "next": "date",
                  "timeout_minutes": None, "timeout_next": None},
        "date": {"type": "input",
                 "text": "Hangi tarihte gelmek istersiniz? (örneğin 15.03.2026)",
                 "save_to": "var.tarih", "validate": "date",
                 "invalid_text": "Lütfen tarihi gün.ay.yıl olarak yazın (örneğin 15.03.2026).",
                 "next": "handoff", "timeout_minutes": 60, "timeout_next": "handoff"},
        "handoff": {"type": "handoff", "group_id": None,
                    "text": "Teşekkürler {{ contact.first_name }}! Randevu talebinizi aldık; "
                    "ekibimiz en kısa sürede sizinle iletişime geçecek.",
                    "note": "Randevu talebi\nTedavi: {{ var.hizmet }}\nAd soyad: "
                    "{{ contact.name }}\nTelefon: {{ contact.phone }}\nTercih edilen tarih: "
                    "{{ var.tarih }}"},
        "handoff_other": {"type": "handoff", "group_id": None,
                          "text": "Sizi hemen bir ekip arkadaşımıza aktarıyorum.",
                          "note": "Müşteri başka bir konuda yardım istiyor."},
    }
    return {"name": "Klinik: fiyat ve randevu", "graph": {"start": "welcome",
                                                         "nodes": _laid_out(nodes)},
            "triggers": {"channel_ids": [], "first_message": True,
                         "keywords": ["randevu", "fiyat"], "ref_codes": []}}


def hotel() -> dict:
    rooms = ["Standart oda", "Deniz manzaralı oda", "Aile odası", "Suit"]
    nodes = {
        "welcome": {"type": "message", "text": "Merhaba {{ contact.first_name }}, "
                    "{{ company.name }}'e hoş geldiniz!", "next": "menu"},
        "menu": {"type": "question", "text": "Size nasıl yardımcı olabiliriz?",
                 "style": "buttons", "options": [
                     {"id": "rez", "title": "Oda rezervasyonu", "next": "room"},
                     {"id": "oda", "title": "Odalar ve fiyatlar", "next": "room"},
                     {"id": "diger", "title": "Başka bir konu", "next": "handoff_other"}],
                 "save_as": "konu", "invalid_text": "Lütfen seçeneklerden birini seçin.",
                 "timeout_minutes": None, "timeout_next": None},
        "room": {"type": "question", "text": "Hangi oda tipiyle ilgileniyorsunuz?",
                 "style": "list", "button": "Odalar", "options": [
                     {"id": f"r{n}", "title": title, "next": "checkin"}
                     for n, title in enumerate(rooms, 1)],
                 "save_as": "oda", "invalid_text": "Lütfen listeden bir oda tipi seçin.",
                 "timeout_minutes": None, "timeout_next": None},
        "checkin": {"type": "input", "text": "Giriş tarihiniz nedir? (örneğin 15.07.2026)",
                    "save_to": "var.giris", "validate": "date",
                    "invalid_text": "Lütfen tarihi gün.ay.yıl olarak yazın.",
                    "next": "checkout", "timeout_minutes": None, "timeout_next": None},
        "checkout": {"type": "input", "text": "Çıkış tarihiniz nedir?",
                     "save_to": "var.cikis", "validate": "date",
                     "invalid_text": "Lütfen tarihi gün.ay.yıl olarak yazın.",
                     "next": "guests", "timeout_minutes": None, "timeout_next": None},
        "guests": {"type": "input", "text": "Kaç kişi konaklayacaksınız?",
                   "save_to": "var.kisi", "validate": "number",
                   "invalid_text": "Lütfen kişi sayısını rakamla yazın (örneğin 2).",
                   "next": "name", "timeout_minutes": None, "timeout_next": None},
        "name": {"type": "input", "text": "Rezervasyon kimin adına olacak?",
                 "save_to": "contact.name", "validate": "text", "invalid_text": "",
                 "next": "handoff", "timeout_minutes": 60, "timeout_next": "handoff"},
        "handoff": {"type": "handoff", "group_id": None,
                    "text": "Teşekkürler! Müsaitlik ve fiyat bilgisi için rezervasyon ekibimiz "
                    "size hemen dönecek.",
                    "note": "Rezervasyon talebi\nOda: {{ var.oda }}\nGiriş: {{ var.giris }}\n"
                    "Çıkış: {{ var.cikis }}\nKişi sayısı: {{ var.kisi }}\n"
                    "Ad soyad: {{ contact.name }}"},
        "handoff_other": {"type": "handoff", "group_id": None,
                          "text": "Sizi hemen bir ekip arkadaşımıza aktarıyorum.",
                          "note": "Misafir başka bir konuda yardım istiyor."},
    }
    return {"name": "Otel: rezervasyon talebi", "graph": {"start": "welcome",
                                                         "nodes": _laid_out(nodes)},
            "triggers": {"channel_ids": [], "first_message": True,
                         "keywords": ["rezervasyon", "oda"], "ref_codes": []}}


def ecommerce() -> dict:
    looked_up = steps.has_capability(ORDER_STATUS)
    nodes = {
        "menu": {"type": "question", "text": "Merhaba {{ contact.first_name }}! Size nasıl "
                 "yardımcı olabiliriz?", "style": "buttons", "options": [
                     {"id": "siparis", "title": "Sipariş durumu", "next": "order"},
                     {"id": "iade", "title": "İade ve değişim", "next": "handoff_return"},
                     {"id": "diger", "title": "Başka bir konu", "next": "handoff_other"}],
                 "save_as": "konu", "invalid_text": "Lütfen seçeneklerden birini seçin.",
                 "timeout_minutes": None, "timeout_next": None},
        "order": {"type": "input", "text": "Sipariş numaranızı yazar mısınız?",
                  "save_to": "var.siparis", "validate": "regex", "pattern": r"#?[A-Za-z0-9-]{4,30}",
                  "invalid_text": "Sipariş numarası harf ve rakamlardan oluşur; lütfen kontrol "
                  "edip tekrar yazın.",
                  "next": "lookup" if looked_up else "handoff_order",
                  "timeout_minutes": 60, "timeout_next": None},
    }
    if looked_up:
        nodes["lookup"] = {"type": "lookup", "capability": ORDER_STATUS,
                           "input": "{{ var.siparis }}", "save_as": "siparis_bilgisi",
                           "next": "answer", "not_found_next": "handoff_order"}
        # The summary says where the order is, its total, and the cargo's tracking link.
        nodes["answer"] = {"type": "message", "text": "{{ var.siparis_bilgisi.summary }}",
                           "next": "bye"}
        nodes["bye"] = {"type": "end", "text": "Başka bir sorunuz olursa yazmanız yeterli. "
                        "İyi günler!"}
    nodes.update({
        "handoff_order": {"type": "handoff", "group_id": None,
                          "text": "Teşekkürler! Siparişinizi kontrol edip hemen size dönüyoruz.",
                          "note": "Sipariş durumu soruluyor\nSipariş no: {{ var.siparis }}"},
        "handoff_return": {"type": "handoff", "group_id": None,
                           "text": "İade ve değişim için sizi bir ekip arkadaşımıza "
                           "aktarıyorum.", "note": "Müşteri iade veya değişim istiyor."},
        "handoff_other": {"type": "handoff", "group_id": None,
                          "text": "Sizi hemen bir ekip arkadaşımıza aktarıyorum.",
                          "note": "Müşteri başka bir konuda yardım istiyor."},
    })
    return {"name": "E-ticaret: sipariş durumu", "graph": {"start": "menu",
                                                          "nodes": _laid_out(nodes)},
            "triggers": {"channel_ids": [], "first_message": True,
                         "keywords": ["sipariş", "kargo", "iade"], "ref_codes": []}}


class _Templates(Mapping[str, dict]):
    """The templates by name, each built when read: the shop's follows the look-ups
    registered at that moment."""

    def __init__(self, builders: dict[str, Callable[[], dict]]):
        self._builders = builders

    def __getitem__(self, name: str) -> dict:
        return self._builders[name]()

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)


FLOW_TEMPLATES: Mapping[str, dict] = _Templates(
    {"clinic": clinic, "hotel": hotel, "ecommerce": ecommerce})
