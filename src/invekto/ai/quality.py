"""The 15 criteria an agent's handling of a conversation is scored by, and the builtin rules
that score them (``score``). The criteria are data (``CRITERIA``): the reports, the LLM's
instructions and docs/ai.md ("Chat analysis") read the same definitions.

Each criterion scores 0, 1 or 2 points, or None when it does not apply (no objection to handle,
no price asked, an empty knowledge base). Its one-line reason is an English sentence
catalogued with ``N_`` plus its ``params``, so the page shows it in the reader's language; the
quality score is the applicable criteria's points as a percentage (``quality_score``).

The rules read the conversation's timeline: the customer's and the agents' messages with their
times. A chatbot's or an automatic message is not the agent's: it neither answers the customer
for response speed nor earns points. Turkish is matched accent- and case-insensitively
(``core.text``): a word matches its inflected forms by its start ("fiyat" finds "fiyatı")."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from invekto.ai import classify
from invekto.ai.words import STEM, content_words
from invekto.core.i18n import N_
from invekto.core.text import fold, words

Role = Literal["customer", "agent", "bot"]


@dataclass(frozen=True)
class Criterion:
    key: str
    label: str  # English, catalogued
    points: tuple[str, str, str]  # what earns 0, 1 and 2 points
    not_applicable: str  # when it does not count


CRITERIA: tuple[Criterion, ...] = (
    Criterion("greeting", N_("Greeting"), (
        N_("no greeting in the agent's first two messages"),
        N_("a greeting alone or only in the second message; or none, after a bot's greeting"),
        N_("the first message greets and offers help or says who is writing")),
        N_("no agent wrote")),
    Criterion("response_speed", N_("Response speed"), (
        N_("first reply after more than 60 minutes, or a later one after more than 4 hours"),
        N_("first reply within 60 minutes and none slower than 4 hours"),
        N_("first reply within 5 minutes and none slower than 30 minutes")),
        N_("no customer message waited for an agent")),
    Criterion("personalisation", N_("Personalisation"), (
        N_("neither the customer's name nor a polite form of address"),
        N_("a polite form of address (efendim, Hanım, Bey) without the name"),
        N_("the customer's name used (or, not known, asked for)")),
        N_("no agent wrote")),
    Criterion("need_discovery", N_("Need discovery"), (
        N_("the agent asked nothing about the customer's needs"),
        N_("one question about the customer's needs"),
        N_("two or more questions about the customer's needs")),
        N_("no agent wrote")),
    Criterion("product_knowledge", N_("Product knowledge"), (
        N_("the replies use none of the knowledge base's terms for what the customer asked"),
        N_("the replies cover some of it"),
        N_("the replies cover at least half of it")),
        N_("the knowledge base is empty or says nothing on what the customer asked")),
    Criterion("clarity", N_("Clarity"), (
        N_("sentences of over 30 words on average, or a message of over 250 words"),
        N_("sentences of up to 30 words on average and no message over 250 words"),
        N_("sentences of up to 20 words on average and no message over 120 words")),
        N_("no agent wrote")),
    Criterion("empathy", N_("Empathy"), (
        N_("a complaining customer got neither understanding nor courtesy"),
        N_("a complaining customer got courtesy only; or no warm word to a calm one"),
        N_("understanding or an apology for a complaint; warm words otherwise")),
        N_("no agent wrote")),
    Criterion("objection_handling", N_("Objection handling"), (
        N_("no reply to the customer's objection, or a dismissive one"),
        N_("a reply that does not address it"),
        N_("an answer to it: an alternative, a discount or instalments, the value explained")),
        N_("the customer raised no objection (price, doubt, a competitor)")),
    Criterion("offer_made", N_("Offer made"), (
        N_("nothing offered"),
        N_("a suggestion or offer without specifics"),
        N_("a concrete offer: a package, discount or product with its price or percentage")),
        N_("the customer shows no purchase intent")),
    Criterion("price_communicated", N_("Price communicated"), (
        N_("the price question went unanswered"),
        N_("the price talked about without a figure, or a figure without its currency"),
        N_("a price with its amount (TL, ₺, €, $)")),
        N_("the customer did not ask about the price")),
    Criterion("call_to_action", N_("Call to action"), (
        N_("no next step proposed"),
        N_("a general invitation (write to us, we are waiting for you)"),
        N_("a concrete next step: an appointment, an order, a booking, a link to pay")),
        N_("the customer shows no purchase intent")),
    Criterion("follow_up", N_("Follow-up set"), (
        N_("no follow-up promised or scheduled"),
        N_("a promise to get back without a time"),
        N_("a message scheduled, or a promise to get back at a set day or time")),
        N_("nothing to follow up: no purchase intent and no complaint")),
    Criterion("correct_information", N_("Correct information"), (
        N_("none of the figures the agent gave is in the knowledge base"),
        N_("some of the figures are not in the knowledge base"),
        N_("every figure the agent gave is in the knowledge base")),
        N_("no figures given, or the knowledge base is empty or off the topic")),
    Criterion("closing", N_("Closing"), (
        N_("the agent's last messages neither thank nor wish well"),
        N_("a thank-you, an offer of further help or a good wish"),
        N_("a good wish together with thanks or an offer of further help")),
        N_("the conversation is still open")),
    Criterion("tone", N_("Tone"), (
        N_("rude or impatient words"),
        N_("curt replies or shouting (capitals, !!)"),
        N_("polite throughout")),
        N_("no agent wrote")),
)
KEYS = tuple(criterion.key for criterion in CRITERIA)
BY_KEY = {criterion.key: criterion for criterion in CRITERIA}


@dataclass(frozen=True)
class Turn:
    """A message of the conversation: the customer's, an agent's, or a bot's (a chatbot flow,
    an automatic or system message)."""

    role: Role
    text: str
    at: datetime


@dataclass(frozen=True)
class Facts:
    """What the rules know beside the messages."""

    customer_name: str | None = None
    # The knowledge base's passages nearest the conversation; None: the knowledge base is
    # empty.
    knowledge: tuple[str, ...] | None = None
    follow_up_scheduled: bool = False  # an agent scheduled a message in it ("send later")
    closed: bool = False
    purchase_intent: str = "none"  # classify.INTENT_LEVELS
    sentiment: str = "neutral"  # classify.SENTIMENT_LABELS


@dataclass(frozen=True)
class Score:
    criterion: str
    score: int | None  # 0-2; None: not applicable
    reason: str  # an English sentence (catalogued), with %(name)s placeholders
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"criterion": self.criterion, "score": self.score, "reason": self.reason,
                "params": dict(self.params)}


def quality_score(scores: Iterable[Score | dict]) -> int | None:
    """The applicable criteria's points as a percentage of their maximum; None when none
    applies (no agent wrote)."""
    given = [item["score"] if isinstance(item, dict) else item.score for item in scores]
    applicable = [value for value in given if value is not None]
    if not applicable:
        return None
    return round(sum(applicable) / (2 * len(applicable)) * 100)


# ---- matching -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _joined(text: str) -> str:
    """The folded words of ``text``, joined by single spaces (each message's, once)."""
    return " ".join(words(text))


def _tokens(text: str) -> list[str]:
    return _joined(text).split()


@functools.lru_cache(maxsize=64)
def _lexicon(phrases: tuple[str, ...]) -> tuple[re.Pattern, dict[str, str]]:
    """One pattern for a list of phrases, matched as ``core.text.keyword_match`` matches a
    keyword (folded; whole words, the last by its start), and each phrase by its folded form."""
    folded = {" ".join(words(phrase)): phrase for phrase in phrases if words(phrase)}
    alternatives = "|".join(re.escape(phrase) for phrase in sorted(folded, key=len,
                                                                   reverse=True))
    return re.compile(rf"(?<!\S)(?:{alternatives})"), folded


def _has(text: str, phrases: tuple[str, ...]) -> str | None:
    """The phrase of ``phrases`` that ``text`` has (the first in the text), as listed."""
    pattern, originals = _lexicon(phrases)
    found = pattern.search(_joined(text))
    return originals[found.group(0)] if found else None


def _any(turns: Iterable[Turn], phrases: tuple[str, ...]) -> str | None:
    for turn in turns:
        if found := _has(turn.text, phrases):
            return found
    return None


_GREETINGS = ("merhaba", "merhabalar", "selam", "selamlar", "hoş geldiniz", "hoşgeldiniz",
              "günaydın", "tünaydın", "iyi günler", "iyi akşamlar", "iyi sabahlar")
_HELP_OFFERS = ("nasıl yardımcı", "yardımcı olabilirim", "yardımcı olayım", "yardımcı olalım",
                "yardımcı olabiliriz", "yardımcı olmaktan", "size nasıl", "buyurun",
                "sizinle ilgileniyorum", "ilgileniyorum", "dinliyorum")
_INTRODUCTIONS = ("adım", "görüşüyorsunuz", "temsilciniz", "temsilcisi", "asistanınız")
# "Merhaba, ben Ayla," / "Ben Ayla." : the agent says who is writing.
_I_AM = re.compile(r"(^|[,.!]\s*)ben\s+\w+\s*[,.!]")
# "Ayşe Hanım", "efendim", "Sayın ...": exact words ("bey" is not "beyaz").
_POLITE_ADDRESS = re.compile(r"\b(efendim|hanim\w{0,4}|hanimefendi\w*|beyefendi\w*|bey|beyi|"
                             r"beye|beyim|sayin)\b")
_ASKS_NAME = ("isminiz", "adınız", "isminizi", "adınızı", "adiniz", "kiminle görüşüyorum")
_GENERIC_NAMES = frozenset(fold(name) for name in (
    "müşteri", "customer", "ziyaretçi", "visitor", "misafir", "guest", "bilinmeyen", "unknown",
    "kullanıcı", "user", "anonim"))
# Questions that are courtesy, not discovery: "size nasıl yardımcı olabilirim?", "başka bir
# sorunuz var mı?".
_COURTESY_QUESTIONS = ("nasıl yardımcı", "yardımcı olabilir", "başka bir", "başka soru",
                       "başka yardımcı", "anlaşılmayan", "yardımcı olabildim")
_QUESTION = re.compile(r"\b(mi|mu)(yim|sin|siniz|siz|yiz|dir|ydi|ymis|sunuz)?\b|"
                       r"\b(hangi|nasil|ne zaman|nere|kac|neden|niye|ne tur|ne kadar|ne icin)\b")
# A sentence ends at . ! ? before a space, or at a line break ("28.000 TL" is not two).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_EMPATHY = ("anlıyorum", "anlıyoruz", "anlayışınız", "haklısınız", "üzgünüz", "üzgünüm",
            "üzüldüm", "üzüldük", "özür", "kusura bakmayın", "geçmiş olsun", "merak etmeyin",
            "endişelenmeyin", "endişe etmeyin", "yaşattığımız", "mağduriyet", "telafi",
            "hemen ilgileniyorum", "hemen ilgileniyoruz", "hemen kontrol", "sizi anlıyorum")
_COURTESY = ("teşekkür", "rica ederim", "memnuniyetle", "lütfen", "memnun oluruz",
             "seve seve", "tabii ki", "tabi ki", "elbette", "rica ederiz")
_OBJECTIONS = ("pahalı", "fiyat yüksek", "fiyatı yüksek", "çok yüksek", "çok fazla", "bütçem",
               "bütçemi", "bütçeyi", "bütçemiz", "daha ucuz", "daha uygun", "başka yerde",
               "başka yer", "başka firma", "başka klinik", "başka site", "başka mağaza",
               "rakip", "düşüneyim", "düşüneceğim", "düşünmem lazım", "düşünmem gerek",
               "emin değilim", "kararsızım", "vazgeçtim", "vazgeç", "gerek yok",
               "istemiyorum", "ilgilenmiyorum", "güvenemiyorum", "güvenmiyorum",
               "indirim olmaz", "indirim yapar", "pazarlık", "çok uzun", "geç kalır",
               "değer mi", "değmez")
_OBJECTION_ANSWERS = ("taksit", "indirim", "kampanya", "alternatif", "seçenek", "garanti",
                      "dahil", "kalite", "avantaj", "ücretsiz", "hediye", "uygun fiyat",
                      "ödeme seçenek", "esnek", "deneme", "iade", "memnun kalmazsanız",
                      "fark", "çünkü", "uzun ömürlü", "orijinal", "sertifika", "güvence",
                      "karşılaştır", "indirimli", "fiyat farkı", "yerine")
_OFFERS = ("kampanya", "indirim", "paket", "fırsat", "teklif", "size özel", "sizin için özel",
           "hediye", "ücretsiz", "avantaj", "yüzde", "öneririm", "öneriyorum", "önerim",
           "tavsiye ederim", "tavsiye ediyorum", "uygun olur", "sizin için en uygun",
           "öneriyoruz", "öneririz")
_PRICE_TALK = ("fiyat", "ücret", "tutar", "maliyet", "lira", "kaç para")
# An amount: "28.000 TL", "₺450", "1.250,50 lira", "99 €", "$20".
_AMOUNT = re.compile(r"[₺$€£]\s?\d|\d[\d.,]*\s?(tl|try|lira|₺|euro|eur|€|dolar|usd|\$|£|"
                     r"sterlin|pound)(?!\w)")
_PERCENT = re.compile(r"%\s?\d|\d\s?%|\byuzde\s?\d")
_URL = re.compile(r"https?://|\bwww\.|\b\w+\.(com|net|org|com\.tr|io|app|link)\b")
_CONCRETE_ACTIONS = ("randevu oluştur", "randevu ayarla", "randevunuzu", "randevu al",
                     "randevu verebil", "randevu vere", "rezervasyon", "sipariş ver",
                     "sipariş oluştur", "siparişinizi", "satın al", "sepete", "ödeme linki",
                     "ödeme bağlantı", "linke tıkla", "tıklayarak", "tıklayın", "bağlantıdan",
                     "kaydınızı", "hemen ayır", "yer ayır", "ayıralım mı", "oluşturalım mı",
                     "ayarlayalım mı", "yazalım mı", "kaydedelim mi", "gönderelim mi",
                     "ayırayım mı", "oluşturayım mı", "kaydınızı", "ön kayıt")
_GENERAL_ACTIONS = ("bekleriz", "bekliyoruz", "ulaşabilirsiniz", "yazabilirsiniz",
                    "arayabilirsiniz", "uğrayabilirsiniz", "gelebilirsiniz", "detaylı bilgi için",
                    "dilerseniz", "isterseniz", "ister misiniz", "inceleyebilirsiniz")
# Future tense, first person: "arayacağım", "döneceğiz", "bilgi vereceğim".
_PROMISE = re.compile(r"\b\w+(acag|eceg)(im|iz)\b|\bdonus (yapacag|saglayacag)\w*|"
                      r"\bhaber verece\w*|\bbilgilendirece\w*")
_WHEN = re.compile(r"\b(yarin|bugun|aksama|aksam|sabah|ogleden sonra|haftaya|hafta ici|"
                   r"pazartesi|sali|carsamba|persembe|cuma|cumartesi|pazar)(?!l)\w*|"
                   r"\bsaat \d|\b\d{1,2}[:.]\d{2}\b|\b\d+ (gun|saat|dakika|hafta)\b|"
                   r"\b(gun|saat) icinde\b")
_WISHES = ("iyi günler", "iyi akşamlar", "iyi çalışmalar", "iyi hafta sonları", "iyi geceler",
           "sağlıklı günler", "görüşmek üzere", "kendinize iyi bakın", "hoşça kalın",
           "keyifli günler", "iyi tatiller", "iyi alışverişler", "iyi bayramlar",
           "mutlu günler", "iyi haftalar")
_THANKS_OR_HELP = ("teşekkür", "bizi tercih", "başka bir konuda", "başka bir sorunuz",
                   "başka yardımcı", "rica ederim", "her zaman yazabilirsiniz",
                   "her zaman bekleriz", "rica ederiz", "memnuniyetle")
_RUDE = ("daha önce söyledim", "zaten söyledim", "zaten yazdım", "okumuyor musunuz",
         "anlamıyor musunuz", "okumadınız mı", "beni ilgilendirmez", "bizi ilgilendirmez",
         "ne yapayım", "ne yapalım", "elimden bir şey gelmez", "sabırlı olun", "sabredin",
         "bekleyeceksiniz", "bekleyin artık", "başka işim var", "saçmalamayın", "saçma",
         "uğraşamam", "uğraşamayız", "yeter artık", "tamam tamam", "kaç kere", "kaç defa",
         "ukala", "aptal", "salak", "mecbursunuz", "ısrar etmeyin",
         "rahatsız etmeyin", "sizinle uğraş", "kafanıza göre", "bu kadar basit")


def _sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(text) if _joined(part)]


def _is_question(sentence: str) -> bool:
    if _has(sentence, _COURTESY_QUESTIONS):
        return False
    return "?" in sentence or bool(_QUESTION.search(_joined(sentence)))


# Words of any conversation and any knowledge base, which say nothing of its topic ("3
# haftadır" is not about a FAQ's "hafta içi"): left out of the topic, by their stems.
_NO_TOPIC = frozenset(word[:STEM] for word in (
    "hafta", "gün", "saat", "dakika", "bugün", "yarın", "sabah", "akşam", "cevap", "yanıt",
    "bilgi", "soru", "sorun", "teşekkür", "lütfen", "mesaj", "numara", "konu", "durum",
    "yardımcı", "müşteri", "kimse", "şimdi", "bekle", "tabii", "değil"))


def _stems(texts: Iterable[str]) -> set[str]:
    return {word[:STEM] for text in texts for word in content_words(text)} - _NO_TOPIC


# Figures: "28.000", "1.250,50", "09:00", "%20", "2,5". Single digits ("2 gün") are left out,
# and so are long digit runs (a phone or order number).
_FIGURE = re.compile(r"\d+(?:[.,:]\d+)*")


def _normal_figure(raw: str) -> str | None:
    if re.fullmatch(r"\d{1,2}:\d{2}", raw):  # a time: "09:00" is "9:00"
        hour, minute = raw.split(":")
        return f"{int(hour)}:{minute}"
    if re.fullmatch(r"\d{1,3}([.,]\d{3})+", raw):
        return raw.replace(".", "").replace(",", "").lstrip("0") or "0"
    plain = raw.replace(",", ".")
    if re.fullmatch(r"\d+", plain):
        if len(plain) == 1 or len(plain) >= 7:
            return None
        return plain.lstrip("0") or "0"
    if re.fullmatch(r"\d+\.\d+", plain):
        whole, fraction = plain.split(".")
        fraction = fraction.rstrip("0")
        return (whole.lstrip("0") or "0") + (f".{fraction}" if fraction else "")
    return None  # a date (12.05.2025), a version: not a figure we check


def figures(text: str) -> dict[str, str]:
    """The figures a text states, normalised ("28.000" and "28000" are one), each with its
    first form as written."""
    found: dict[str, str] = {}
    for match in _FIGURE.finditer(text):
        normal = _normal_figure(match.group(0).rstrip(".,:"))
        if normal is not None:
            found.setdefault(normal, match.group(0).rstrip(".,:"))
    return found


def _amount(text: str) -> bool:
    return bool(_AMOUNT.search(fold(text)))


def _first_name(name: str | None) -> str | None:
    """The customer's first name, folded; None when not known (empty, a phone number, a
    placeholder such as "Müşteri")."""
    found = words(name or "")
    if not found or len(found[0]) < 2 or not found[0].isalpha() or found[0] in _GENERIC_NAMES:
        return None
    return found[0]


def _minutes(delta_seconds: float) -> int:
    return max(1, math.ceil(delta_seconds / 60))


# ---- the rules ------------------------------------------------------------------------------


class _Conversation:
    """The timeline split the ways the rules read it."""

    def __init__(self, turns: Sequence[Turn], facts: Facts) -> None:
        self.turns = list(turns)
        self.facts = facts
        self.agent = [turn for turn in self.turns if turn.role == "agent"]
        self.agent_text = [turn for turn in self.agent if turn.text.strip()]
        self.customer = [turn for turn in self.turns if turn.role == "customer"]
        self.complained = facts.sentiment == "negative" or any(
            classify.rule_sentiment(turn.text) == "negative" for turn in self.customer)

    def after(self, turn: Turn) -> list[Turn]:
        """The agents' messages after ``turn``."""
        index = next(i for i, each in enumerate(self.turns) if each is turn)
        return [later for later in self.turns[index + 1:] if later.role == "agent"]


def _greeting(c: _Conversation) -> Score:
    first_two = c.agent_text[:2]
    first = first_two[0]
    greeted = [turn for turn in first_two if _has(turn.text, _GREETINGS)]
    if not greeted:
        before = c.turns[:next(i for i, turn in enumerate(c.turns) if turn is first)]
        if any(turn.role == "bot" and _has(turn.text, _GREETINGS) for turn in before):
            return Score("greeting", 1, N_("A bot had greeted the customer; the agent did not."))
        return Score("greeting", 0, N_("The agent did not greet the customer."))
    if greeted[0] is first and (_has(first.text, _HELP_OFFERS) or _has(first.text,
                                                                         _INTRODUCTIONS)
                                or _I_AM.search(fold(first.text))):
        return Score("greeting", 2, N_("Greeted and offered help in the first message."))
    if greeted[0] is not first:
        return Score("greeting", 1, N_("Greeted only in the second message."))
    return Score("greeting", 1, N_("Greeted without offering help or introducing themselves."))


def _response_speed(c: _Conversation) -> Score:
    waits: list[float] = []
    waiting_since: datetime | None = None
    for turn in c.turns:
        if turn.role == "customer":
            waiting_since = waiting_since or turn.at
        elif turn.role == "agent" and waiting_since is not None:
            waits.append(max(0.0, (turn.at - waiting_since).total_seconds()))
            waiting_since = None
    if not waits:
        return Score("response_speed", None, N_("No customer message waited for an agent."))
    first, slowest = _minutes(waits[0]), _minutes(max(waits))
    params = {"first": first, "slowest": slowest}
    if first <= 5 and slowest <= 30:
        score = 2
    elif first <= 60 and slowest <= 240:
        score = 1
    else:
        score = 0
    return Score("response_speed", score,
                 N_("First reply after %(first)s min; the slowest after %(slowest)s min."),
                 params)


def _personalisation(c: _Conversation) -> Score:
    name = _first_name(c.facts.customer_name)
    # "Ayşe", "Ayşe'ciğim": a name of three letters or more matches its inflected forms.
    if name and any(word == name or (len(name) >= 3 and word.startswith(name))
                    for turn in c.agent_text for word in _tokens(turn.text)):
        return Score("personalisation", 2, N_("Called the customer by name."))
    if not name and _any(c.agent_text, _ASKS_NAME):
        return Score("personalisation", 2, N_("Asked the customer's name."))
    if any(_POLITE_ADDRESS.search(_joined(turn.text)) for turn in c.agent_text):
        return Score("personalisation", 1,
                     N_("Addressed the customer politely, without their name."))
    if name:
        return Score("personalisation", 0, N_("Never used the customer's name."))
    return Score("personalisation", 0,
                 N_("Neither asked the customer's name nor addressed them politely."))


def _need_discovery(c: _Conversation) -> Score:
    asked = sum(_is_question(sentence) for turn in c.agent_text
                for sentence in _sentences(turn.text))
    if asked >= 2:
        return Score("need_discovery", 2, N_("Asked %(count)s questions about the needs."),
                     {"count": asked})
    if asked == 1:
        return Score("need_discovery", 1, N_("Asked one question about the needs."))
    return Score("need_discovery", 0, N_("Asked the customer nothing about their needs."))


def _knowledge_topic(c: _Conversation) -> tuple[set[str], set[str]] | None:
    """(the customer's topic stems the knowledge base has, the knowledge base's stems); None
    when the knowledge base is empty."""
    if c.facts.knowledge is None:
        return None
    known = _stems(c.facts.knowledge)
    return _stems(turn.text for turn in c.customer) & known, known


def _product_knowledge(c: _Conversation) -> Score:
    topic = _knowledge_topic(c)
    if topic is None:
        return Score("product_knowledge", None, N_("The knowledge base is empty."))
    asked, _known = topic
    if not asked:
        return Score("product_knowledge", None,
                     N_("The knowledge base says nothing on what the customer asked."))
    covered = asked & _stems(turn.text for turn in c.agent_text)
    params = {"covered": len(covered), "asked": len(asked)}
    reason = N_("The replies use %(covered)s of the %(asked)s knowledge-base terms for what "
                "the customer asked.")
    if len(covered) * 2 >= len(asked):
        return Score("product_knowledge", 2, reason, params)
    return Score("product_knowledge", 1 if covered else 0, reason, params)


def _clarity(c: _Conversation) -> Score:
    lengths = [len(_tokens(sentence)) for turn in c.agent_text
               for sentence in _sentences(turn.text)]
    longest = max(len(_tokens(turn.text)) for turn in c.agent_text)
    average = round(sum(lengths) / len(lengths)) if lengths else 0
    params = {"average": average, "longest": longest}
    reason = N_("Sentences of %(average)s words on average; the longest message has "
                "%(longest)s words.")
    if average <= 20 and longest <= 120:
        return Score("clarity", 2, reason, params)
    if average <= 30 and longest <= 250:
        return Score("clarity", 1, reason, params)
    return Score("clarity", 0, reason, params)


def _empathy(c: _Conversation) -> Score:
    understanding = _any(c.agent_text, _EMPATHY)
    courteous = _any(c.agent_text, _COURTESY)
    if c.complained:
        if understanding:
            return Score("empathy", 2, N_("Met the complaint with understanding (“%(words)s”)."),
                         {"words": understanding})
        if courteous:
            return Score("empathy", 1, N_("Courteous, but showed no understanding of the "
                                          "complaint."))
        return Score("empathy", 0, N_("Showed no understanding of the customer's complaint."))
    if understanding or courteous:
        return Score("empathy", 2, N_("Warm and courteous (“%(words)s”)."),
                     {"words": understanding or courteous})
    return Score("empathy", 1, N_("Neutral: no warm or courteous words."))


def _objection_handling(c: _Conversation) -> Score:
    raised = next(((turn, found) for turn in c.customer
                   if (found := _has(turn.text, _OBJECTIONS))), None)
    if raised is None:
        return Score("objection_handling", None, N_("The customer raised no objection."))
    turn, objection = raised
    replies = [reply for reply in c.after(turn) if reply.text.strip()]
    params = {"objection": objection}
    if not replies:
        return Score("objection_handling", 0, N_("No reply after the objection “%(objection)s”."),
                     params)
    if _any(replies, _RUDE):
        return Score("objection_handling", 0,
                     N_("Dismissed the objection “%(objection)s”."), params)
    if _any(replies, _OBJECTION_ANSWERS):
        return Score("objection_handling", 2, N_("Answered the objection “%(objection)s”."),
                     params)
    if any(len(_tokens(reply.text)) >= 3 for reply in replies):
        return Score("objection_handling", 1,
                     N_("Replied, but did not address the objection “%(objection)s”."), params)
    return Score("objection_handling", 0,
                 N_("Did not address the objection “%(objection)s”."), params)


def _offer_made(c: _Conversation) -> Score:
    if c.facts.purchase_intent == "none":
        return Score("offer_made", None, N_("The customer shows no purchase intent."))
    offers = [turn for turn in c.agent_text if _has(turn.text, _OFFERS)
              or _PERCENT.search(fold(turn.text))]
    if any(_amount(turn.text) or _PERCENT.search(fold(turn.text)) for turn in offers):
        return Score("offer_made", 2, N_("Made a concrete offer with its price or discount."))
    if offers:
        return Score("offer_made", 1, N_("Suggested something, without a price or discount."))
    return Score("offer_made", 0, N_("Offered nothing."))


def _price_communicated(c: _Conversation) -> Score:
    asked = next((turn for turn in c.customer if {cue.name for cue in classify.intent_cues(
        turn.text)} & {"price", "discount"}), None)
    if asked is None:
        return Score("price_communicated", None, N_("The customer did not ask about the price."))
    replies = [reply for reply in c.after(asked) if reply.text.strip()]
    if any(_amount(reply.text) for reply in replies):
        return Score("price_communicated", 2, N_("Gave the price with its amount."))
    if any(figures(reply.text) for reply in replies):
        return Score("price_communicated", 1, N_("Gave a figure without its currency."))
    if _any(replies, _PRICE_TALK):
        return Score("price_communicated", 1, N_("Talked about the price without a figure."))
    return Score("price_communicated", 0, N_("Did not answer the price question."))


def _call_to_action(c: _Conversation) -> Score:
    if c.facts.purchase_intent == "none":
        return Score("call_to_action", None, N_("The customer shows no purchase intent."))
    if any(_URL.search(fold(turn.text)) for turn in c.agent_text) or _any(
            c.agent_text, _CONCRETE_ACTIONS):
        return Score("call_to_action", 2, N_("Proposed a concrete next step."))
    if _any(c.agent_text, _GENERAL_ACTIONS):
        return Score("call_to_action", 1, N_("Invited the customer in general terms only."))
    return Score("call_to_action", 0, N_("Proposed no next step."))


def _follow_up(c: _Conversation) -> Score:
    if c.facts.purchase_intent == "none" and not c.complained:
        return Score("follow_up", None,
                     N_("Nothing to follow up: no purchase intent and no complaint."))
    if c.facts.follow_up_scheduled:
        return Score("follow_up", 2, N_("Scheduled a message to the customer."))
    promises = [turn for turn in c.agent_text if _PROMISE.search(_joined(turn.text))]
    if any(_WHEN.search(_joined(turn.text)) for turn in promises):
        return Score("follow_up", 2, N_("Promised to get back at a set time."))
    if promises:
        return Score("follow_up", 1, N_("Promised to get back, without a time."))
    return Score("follow_up", 0, N_("Set no follow-up."))


def _correct_information(c: _Conversation) -> Score:
    topic = _knowledge_topic(c)
    if topic is None:
        return Score("correct_information", None, N_("The knowledge base is empty."))
    stated: dict[str, str] = {}
    for turn in c.agent_text:
        for normal, written in figures(turn.text).items():
            stated.setdefault(normal, written)
    from_customer = {normal for turn in c.customer for normal in figures(turn.text)}
    stated = {normal: written for normal, written in stated.items()
              if normal not in from_customer}
    if not stated:
        return Score("correct_information", None, N_("The agent gave no figures."))
    asked, known = topic
    agent_topic = _stems(turn.text for turn in c.agent_text) & known
    if not (asked or agent_topic):
        return Score("correct_information", None,
                     N_("The knowledge base says nothing on this conversation's topic."))
    in_knowledge = {normal for passage in c.facts.knowledge or () for normal in figures(passage)}
    missing = [written for normal, written in stated.items() if normal not in in_knowledge]
    if not missing:
        return Score("correct_information", 2,
                     N_("Every figure given (%(count)s) is in the knowledge base."),
                     {"count": len(stated)})
    params = {"figures": ", ".join(missing[:5])}
    if len(missing) < len(stated):
        return Score("correct_information", 1, N_("Not in the knowledge base: %(figures)s."),
                     params)
    return Score("correct_information", 0,
                 N_("None of the figures is in the knowledge base: %(figures)s."), params)


def _closing(c: _Conversation) -> Score:
    if not c.facts.closed:
        return Score("closing", None, N_("The conversation is still open."))
    last = c.agent_text[-2:]
    wished = _any(last, _WISHES)
    thanked = _any(last, _THANKS_OR_HELP)
    if wished and thanked:
        return Score("closing", 2, N_("Closed with thanks and a good wish."))
    if wished or thanked:
        return Score("closing", 1, N_("Closed with “%(words)s” only."),
                     {"words": wished or thanked})
    return Score("closing", 0, N_("Ended without thanks or a good wish."))


def _shouting(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    return len(letters) >= 8 and sum(ch.isupper() for ch in letters) >= 0.7 * len(letters)


def _tone(c: _Conversation) -> Score:
    if rude := _any(c.agent_text, _RUDE):
        return Score("tone", 0, N_("Rude or impatient: “%(words)s”."), {"words": rude})
    if any(_shouting(turn.text) or "!!" in turn.text for turn in c.agent_text):
        return Score("tone", 1, N_("Shouted (capitals or “!!”)."))
    curt = [turn for turn in c.agent_text if len(_tokens(turn.text)) <= 2]
    if len(curt) >= 2 and len(curt) * 2 >= len(c.agent_text):
        return Score("tone", 1, N_("Curt: %(count)s replies of one or two words."),
                     {"count": len(curt)})
    return Score("tone", 2, N_("Polite throughout."))


_RULES = {
    "greeting": _greeting, "response_speed": _response_speed,
    "personalisation": _personalisation, "need_discovery": _need_discovery,
    "product_knowledge": _product_knowledge, "clarity": _clarity, "empathy": _empathy,
    "objection_handling": _objection_handling, "offer_made": _offer_made,
    "price_communicated": _price_communicated, "call_to_action": _call_to_action,
    "follow_up": _follow_up, "correct_information": _correct_information,
    "closing": _closing, "tone": _tone,
}
if tuple(_RULES) != KEYS:  # pragma: no cover - a criterion added without its rule
    raise RuntimeError("every criterion needs its rule, in CRITERIA's order")


def score(turns: Sequence[Turn], facts: Facts) -> list[Score]:
    """The builtin scores of the agents' handling, one per criterion in ``CRITERIA``'s order.
    With no agent message, every criterion is not applicable."""
    conversation = _Conversation(turns, facts)
    if not conversation.agent_text:
        return [Score(key, None, N_("No agent wrote in this conversation.")) for key in KEYS]
    return [_RULES[key](conversation) for key in KEYS]
