"""The builtin classifiers of customer messages, offline and without a database:

- ``TagModel``: a company's own tags, learnt from how its agents tagged past conversations.
  Features: the conversation's e5 embedding and TF-IDF over character n-grams of its folded
  text (typos, missing Turkish letters, suffixes); one logistic regression per tag. A tag with
  fewer than ``MIN_EXAMPLES`` tagged conversations is not learnt: a guess from one or two
  examples would be noise in the inbox.
- ``sentiment`` (negative/neutral/positive) and ``intent`` (purchase intent: none/low/medium/
  high, with reasons): the same for every company, with no training by the company. A logistic
  regression over the e5 embedding and a few Turkish cue features (``sentiment_cues``,
  ``intent_cues``: negation, sarcasm, emojis, "nasıl ödeyebilirim", "kaç TL"...), fitted once
  per process on the seed messages in ``seed/`` (written for this, independent of the
  evaluation set). The cues alone also make a rule-only answer (``rule_sentiment``): the
  evaluation's baseline.

Measured by ``make eval-ai`` (``bench/ai_eval/labels.py``); the numbers are in docs/ai.md."""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold

from invekto.ai.providers.base import EmbeddingKind
from invekto.core.i18n import N_
from invekto.core.text import fold, words

SEED = Path(__file__).parent / "seed"
# Fixed so that the same examples always give the same model (folds, solver).
RANDOM_STATE = 0

Embed = Callable[[list[str]], np.ndarray]


def _embedder(kind: EmbeddingKind) -> Embed:
    def embed(texts: list[str]) -> np.ndarray:
        from invekto.ai.providers.builtin import embedder  # loads the engine on first use

        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.asarray(embedder().embed_now(texts, kind=kind), dtype=np.float64)

    return embed


# --- a company's tags ------------------------------------------------------------------------

# A tag needs this many tagged conversations before it is suggested.
MIN_EXAMPLES = 3
# A conversation rarely needs more tags than this; more would be noise to an agent.
MAX_TAGS = 3
# Chosen by 5-fold cross-validation on the evaluation's training conversations (never its test
# ones): e5's "query" side reads short customer messages better than its "passage" side
# (micro-F1 0.84 against 0.80), the characters add to the embedding at half its weight (0.81
# with the embedding alone), and a weak regularisation suits a few dozen examples. Nearest
# neighbours over the embeddings measured 0.71.
TAG_EMBEDDING_KIND: EmbeddingKind = "query"
TAG_CHARACTER_WEIGHT = 0.5
TAG_C = 32.0


def conversation_text(customer_messages: Iterable[str]) -> str:
    """What a conversation is tagged by: its customer's messages, in order. The agents' replies
    are left out: they repeat the company's standard wording whatever the topic, and measured
    worse (``bench/ai_eval/labels.py``)."""
    return "\n".join(message.strip() for message in customer_messages if message.strip())


class TagModel:
    """One company's tags. ``fit`` learns from its tagged conversations; ``predict`` gives each
    learnt tag's probability for new ones."""

    def __init__(self, *, embedding_kind: EmbeddingKind = TAG_EMBEDDING_KIND,
                 character_weight: float = TAG_CHARACTER_WEIGHT, c: float = TAG_C,
                 embed: Embed | None = None) -> None:
        self.embedding_kind = embedding_kind
        self.character_weight = character_weight
        self.c = c
        self._embed = embed or _embedder(embedding_kind)
        self._characters: TfidfVectorizer | None = None
        self._models: dict[str, LogisticRegression | float] = {}
        self.counts: dict[str, int] = {}

    @property
    def tags(self) -> list[str]:
        """The tags it predicts (those with at least ``MIN_EXAMPLES`` examples)."""
        return sorted(self._models)

    def _features(self, texts: list[str], embeddings: np.ndarray | None = None):
        assert self._characters is not None
        vectors = self._embed(texts) if embeddings is None else embeddings
        characters = self._characters.transform(texts) * self.character_weight
        return sparse.hstack([sparse.csr_matrix(vectors), characters]).tocsr()

    @classmethod
    def fit(cls, examples: Sequence[tuple[str, Sequence[str]]], *,
            embeddings: np.ndarray | None = None, **options) -> TagModel:
        """``examples``: (conversation text, its tags). ``embeddings``: the texts' vectors when
        the caller has them already (the evaluation's cross-validation)."""
        model = cls(**options)
        texts = [text for text, _tags in examples]
        model.counts = dict(Counter(tag for _text, tags in examples for tag in set(tags)))
        learnt = sorted(tag for tag, count in model.counts.items() if count >= MIN_EXAMPLES)
        if not learnt:
            return model
        model._characters = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5),
                                            preprocessor=fold, sublinear_tf=True)
        model._characters.fit(texts)
        features = model._features(texts, embeddings)
        for tag in learnt:
            target = np.array([tag in tags for _text, tags in examples])
            if target.all():
                model._models[tag] = 1.0  # every example has it: nothing to tell apart
                continue
            model._models[tag] = LogisticRegression(
                C=model.c, class_weight="balanced", max_iter=2000,
                random_state=RANDOM_STATE).fit(features, target)
        return model

    def predict(self, texts: Sequence[str], *,
                embeddings: np.ndarray | None = None) -> list[dict[str, float]]:
        """Per text, every learnt tag's probability."""
        texts = list(texts)
        if not self._models or not texts:
            return [{} for _text in texts]
        features = self._features(texts, embeddings)
        columns = {}
        for tag, fitted in self._models.items():
            if isinstance(fitted, float):
                columns[tag] = np.full(len(texts), fitted)
            else:
                columns[tag] = fitted.predict_proba(features)[:, 1]
        return [{tag: float(column[row]) for tag, column in columns.items()}
                for row in range(len(texts))]


def choose_tags(probabilities: dict[str, float], threshold: float, *,
                limit: int = MAX_TAGS) -> list[str]:
    """The tags to apply: those at or above ``threshold``, most probable first, at most
    ``limit``. Empty when not even the best one passes: no tag rather than a wrong one."""
    ranked = sorted(probabilities.items(), key=lambda item: (-item[1], item[0]))
    return [tag for tag, probability in ranked[:limit] if probability >= threshold]


def micro_f1(predicted: Sequence[Iterable[str]], expected: Sequence[Iterable[str]]) -> float:
    right = found = wanted = 0
    for guess, truth in zip(predicted, expected, strict=True):
        guess, truth = set(guess), set(truth)
        right += len(guess & truth)
        found += len(guess)
        wanted += len(truth)
    return 2 * right / (found + wanted) if found + wanted else 0.0


def tune_threshold(examples: Sequence[tuple[str, Sequence[str]]], *, folds: int = 5,
                   embeddings: np.ndarray | None = None,
                   grid: Iterable[float] = np.arange(0.2, 0.91, 0.05), **options) -> float:
    """The threshold with the best micro-F1 over ``folds``-fold cross-validation on the
    company's own tagged conversations: each is tagged by a model that never saw it."""
    texts = [text for text, _tags in examples]
    vectors = _embedder(options.get("embedding_kind", TAG_EMBEDDING_KIND))(texts) \
        if embeddings is None else embeddings
    held_out: list[dict[str, float]] = [{} for _text in texts]
    splitter = KFold(n_splits=folds, shuffle=True, random_state=RANDOM_STATE)
    for train, test in splitter.split(texts):
        model = TagModel.fit([examples[i] for i in train], embeddings=vectors[train],
                             **options)
        for i, probabilities in zip(
                test, model.predict([texts[i] for i in test], embeddings=vectors[test]),
                strict=True):
            held_out[i] = probabilities
    truth = [tags for _text, tags in examples]
    scored = [(micro_f1([choose_tags(p, float(t)) for p in held_out], truth), -float(t))
              for t in grid]
    return round(-max(scored)[1], 2)


# --- sentiment cues --------------------------------------------------------------------------

# Folded word stems (a word that starts with one matches) and their weight. Several words
# match consecutive words. Greetings made of "iyi" are not praise (see _NOT_PRAISE).
_POSITIVE = {
    "tesekkur": 2, "tsk": 2, "sagol": 2, "sag ol": 2, "eline saglik": 2, "elinize saglik": 2,
    "ellerinize saglik": 2, "emeginize saglik": 2, "emeklerinize saglik": 2, "allah razi": 2,
    "harika": 2, "mukemmel": 2, "muhtesem": 2, "muazzam": 2, "super": 2, "sahane": 2,
    "efsane": 2, "bayil": 2, "memnun": 2, "begen": 2, "iyi ki": 2, "helal olsun": 2,
    "minnettar": 2, "tertemiz": 2, "tavsiye ederim": 2, "tavsiye edece": 2, "oneriyorum": 1,
    "oneririm": 1, "mutlu": 1, "sevin": 1, "bravo": 1, "tebrik": 1, "guzel": 1, "iyi": 1,
    "nazik": 1, "kibar": 1, "rahat": 1, "hizli": 1, "ozenli": 1, "kaliteli": 1, "leziz": 1,
    "lezzetli": 1, "profesyonel": 1, "guler yuz": 1, "sabirli": 1, "basarili": 1,
    "temizdi": 1, "temiz ve": 1, "cok temiz": 1, "makul": 1,
}
_NEGATIVE = {
    "rezalet": 3, "rezil": 2, "berbat": 3, "igrenc": 3, "kotu": 2, "sikayet": 2, "kazik": 2,
    "sahte": 2, "dandik": 2, "kalitesiz": 2, "saygisiz": 2, "ilgisiz": 2, "pisman": 2,
    "kandir": 2, "dolandir": 3, "mahv": 2, "hayal kirikli": 3, "bikt": 2, "sinirlen": 2,
    "sinir ol": 2, "sinirim": 2, "sinir bozucu": 2, "yaziklar olsun": 3, "yazik": 1, "ayip": 2,
    "skandal": 2, "felaket": 2, "facia": 2, "maalesef": 1, "kaba": 1, "pis": 1, "kirik": 1,
    "kirildi": 1, "hasar": 1, "gecik": 1, "cizik": 1, "cizil": 1, "yirtik": 1, "yirtil": 1,
    "eksik": 1, "yanlis": 1, "sacma": 2, "uzul": 1, "uzgun": 1, "rahatsiz": 1, "tahris": 1,
    "bozuk": 1, "bozul": 1, "ariza": 1, "magdur": 2, "perisan": 2, "olur mu boyle": 2,
    "bu nasil is": 2, "hala": 1, "kimse": 1, "fena": 2, "pahali": 1, "tatsiz": 1, "gurultu": 1,
    "bocek": 1, "leke": 1, "beklet": 1, "sorun": 1, "problem": 1, "cevap yok": 1,
    "donus yok": 1, "ilgi yok": 1, "yalan": 2, "hata": 1, "degmez": 1, "degmedi": 2,
    "uyuyamadi": 1, "tavsiye etmem": 2, "tavsiye etmiyor": 2,
}
# "iyi günler", "iyi akşamlar", "iyi çalışmalar": greetings, not praise.
_NOT_PRAISE = re.compile(r"iyi (gun|aksam|sabah|gece|calisma|hafta|bayram|yolculuk|tatil|"
                         r"seyirler|eglence)")
# Verbs whose negation is a complaint: "gelmedi", "dönmüyorsunuz", "iade edilmedi".
_SERVICE_VERBS = ("gel", "ulas", "don", "ver", "yat", "edil", "calis", "ac", "acil", "ilgilen",
                  "duzel", "coz", "cozul", "yapil", "gonder", "gonderil", "ara", "hallet",
                  "dur", "kargola")
# Negative verb forms after a stem: past -me-di, aorist -mez, present -miyor, future -meyecek,
# evidential -memiş, "etmem" at the end of a word. Not the verbal noun ("gelmem gerekiyor").
_NEGATED = re.compile(r"m[ae](d|z|y[ae]c|mis|yin|yiz)|m[iu]yor|m[ae]m$")
# Light verbs that carry a negation for the word before ("memnun kalmadım", "hiç olmadı").
_LIGHT_VERBS = ("kal", "ol", "et", "ed", "yap", "bul", "gor", "yasa")
_NOT = ("degil", "degildi", "degilim", "degiliz", "degildir", "degilsiniz", "degildik")
_PRIVATIVE = ("siz", "suz")  # "sorunsuz", "rahatsız": without
_POSITIVE_EMOJI = "🙏😍😊🥰❤💕👍👌😄🙂😁🤩💯✨🌸💐😇🤗♥💖💗"
_NEGATIVE_EMOJI = "😡😤🤬😠👎😞😢😭🙄🙃🤢😒💔😔😩😫🤮😑😖"
# "3 haftadır", "iki saattir", "10 gündür": how long the customer has waited.
_DURATION = re.compile(r"(\d+|bir|iki|uc|dort|bes|alti|yedi|sekiz|dokuz|on|kac) "
                       r"(gun|hafta|saat|ay)(dir|dur|tir|tur)\b|\b(gunlerdir|haftalardir|"
                       r"saatlerdir|aylardir)\b")
_CONTRAST = ("ama", "fakat", "ancak", "lakin")
_QUESTION_WORDS = re.compile(r"\b(mi|mu|misiniz|musunuz|miyim|muyum|miyiz|midir|mudur)\b|"
                             r"\b(nedir|nasil|ne zaman|nere|kac|hangi)")


@dataclass(frozen=True)
class SentimentCues:
    positive: float
    negative: float
    question: bool
    sarcasm: bool

    def vector(self) -> list[float]:
        return [min(self.positive, 4.0), min(self.negative, 4.0), float(self.question),
                float(self.sarcasm)]


def _lexicon_hits(tokens: list[str],
                  lexicon: dict[str, int]) -> list[tuple[int, int, str, int]]:
    """(first token, last token, entry, weight) of every lexicon entry found, longest first;
    a word is counted once."""
    hits, taken = [], set()
    entries = sorted(lexicon.items(), key=lambda item: -len(item[0]))
    for entry, weight in entries:
        parts = entry.split()
        for start in range(len(tokens) - len(parts) + 1):
            span = range(start, start + len(parts))
            if any(i in taken for i in span):
                continue
            window = tokens[start:start + len(parts)]
            if all(word == part for word, part in zip(window[:-1], parts[:-1], strict=True)) \
                    and window[-1].startswith(parts[-1]):
                hits.append((start, start + len(parts) - 1, entry, weight))
                taken.update(span)
    return hits


def _negated(tokens: list[str], first: int, last: int, stem: str) -> bool:
    """Whether the words ``first..last`` (ending in ``stem``...) are negated: a negative verb
    form in the word itself ("beğenmedim"), a light verb after it in the negative ("memnun
    kalmadım"), "değil" after it ("fena değil"), or "-siz" ("sorunsuz")."""
    rest = tokens[last][len(stem):]
    if _NEGATED.match(rest) or rest in _PRIVATIVE or rest[-3:] in _PRIVATIVE:
        return True
    following = tokens[last + 1:last + 3]
    for word in following:
        if word in ("de", "da", "hic", "pek", "cok"):
            continue
        if word.startswith(_NOT) or word in ("yok", "yoktu"):
            return True
        light = next((verb for verb in _LIGHT_VERBS if word.startswith(verb)), None)
        return light is not None and bool(_NEGATED.match(word[len(light):]))
    return False


def sentiment_cues(text: str) -> SentimentCues:
    """The Turkish rules' reading of a message: how much praise and how much complaint it has
    after negation, and whether it asks something or sounds sarcastic."""
    folded = fold(text)
    tokens = words(text)
    contrast = max((i for i, word in enumerate(tokens) if word in _CONTRAST), default=-1)

    def weight(first: int, base: float) -> float:
        # After "ama"/"fakat" is what the customer means: "oda güzeldi ama personel kabaydı".
        if contrast < 0:
            return base
        return base * (1.5 if first > contrast else 0.5)

    positive = negative = 0.0
    joined = " ".join(tokens)
    for first, last, entry, value in _lexicon_hits(tokens, _POSITIVE):
        if tokens[first] == "iyi" and _NOT_PRAISE.match(" ".join(tokens[first:first + 2])):
            continue
        if _negated(tokens, first, last, entry.split()[-1]):
            negative += weight(first, value)
        else:
            positive += weight(first, value)
    for first, last, entry, value in _lexicon_hits(tokens, _NEGATIVE):
        if entry.endswith(_PRIVATIVE):
            negative += weight(first, value)  # "kalitesiz": the "-siz" is the complaint
        elif _negated(tokens, first, last, entry.split()[-1]):
            # "fena değil", "sorun yok", "hiç sorun yaşamadım": mild praise.
            positive += weight(first, max(value / 2, 1.0))
        else:
            negative += weight(first, value)
    for index, word in enumerate(tokens):
        # "gelmedi", "dönmüyorsunuz", "iade edilmedi"; not "gelmem gerekiyor mu".
        verb = next((verb for verb in _SERVICE_VERBS if word.startswith(verb)
                     and _NEGATED.match(word[len(verb):])), None)
        if verb and not (index + 1 < len(tokens)
                         and tokens[index + 1].startswith(("gerek", "lazim"))):
            negative += weight(index, 1.0)
    positive += min(sum(text.count(emoji) for emoji in _POSITIVE_EMOJI), 2)
    negative += 1.5 * min(sum(text.count(emoji) for emoji in _NEGATIVE_EMOJI), 2)
    if "??" in text or "!!!" in text:
        negative += 0.5
    waited = bool(_DURATION.search(joined)) or "yine mi" in joined
    sarcasm = positive > 0 and (waited or any(emoji in text for emoji in "🙄🙃😒")
                                or ("👏" in text and negative > 0))
    if waited:
        negative += 1.0
    if sarcasm:
        # "Ne güzel, üç haftadır bekliyorum 👏": the praise is the complaint.
        negative, positive = negative + positive, 0.0
    question = "?" in text or bool(_QUESTION_WORDS.search(folded))
    return SentimentCues(positive, negative, question, sarcasm)


def rule_sentiment(text: str) -> str:
    """The rules alone: praise against complaint (the evaluation's baseline)."""
    cues = sentiment_cues(text)
    balance = cues.positive - cues.negative
    if balance >= 1:
        return "positive"
    if balance <= -1:
        return "negative"
    return "neutral"


# --- purchase-intent cues --------------------------------------------------------------------

@dataclass(frozen=True)
class IntentCue:
    name: str
    level: str  # the level this cue points to
    reason: str  # an English sentence, catalogued (translated where it is shown)
    pattern: re.Pattern


def _cue(name: str, level: str, reason: str, pattern: str) -> IntentCue:
    return IntentCue(name, level, reason, re.compile(pattern))


_WEEKDAYS = r"(pazartesi|sali|carsamba|persembe|cuma|cumartesi|pazar)"  # not "pazarlık"
_MONTHS = r"(ocak|subat|mart|nisan|mayis|haziran|temmuz|agustos|eylul|ekim|kasim|aralik)"
# Patterns on the folded words of the message joined by single spaces.
INTENT_CUES = (
    _cue("pay", "high", N_("asks how to pay"),
         r"\b(nasil|nereye|nereden|hangi hesab\w*) (ode|yatir|gonder)|\biban\b|\bhesap (no|num|"
         r"bilgi)|\bhavale|\beft\b|\bodeme linki?|\bodeme (yap(acag|ayim|alim|mak ist)|"
         r"sayfa)|\bkapora (yatir|gonder|ode)|\bodeyece|\bodeyeyim|\bodeyim|\bkart bilgi|"
         r"\bkartla ode|\bodemeyi (nasil|kapida|kartla|havale|simdi|hemen|yapiyorum)"),
    _cue("order", "high", N_("wants to buy or order"),
         r"\bsiparis (ver|olustur|gec|etmek)|\b(almak|satin almak|siparis vermek) isti|"
         r"\b(satin al|alacag|aliyorum|alalim|alicam|alcam)|\bgonderin\b|\bayirin\b|"
         r"\bsepete"),
    _cue("book", "high", N_("wants to book an appointment or a room"),
         r"\brezervasyon (yap|yaptir|isti|olustur|onay)|\brandevu (al|isti|olustur|ver|ayarla|"
         r"verir|verebil)|\bayirt|\bayirabil|\bayirir|\btutun\b|\byazar misiniz|\byazin\b|"
         r"\bkaydol|\bkayit ol|\bkesin rezervasyon"),
    _cue("when", "high", N_("asks for a date or time"),
         r"\b(yarin|bugun|bu aksam|bu hafta|haftaya|hafta sonu|" + _WEEKDAYS + r")(?!l)|"
         r"\bsaat \d|\b\d{1,2}[:.]\d{2}\b|\b\d{1,2}( \d{1,2})? " + _MONTHS + r"|\bayin \d|"
         r"\b" + _MONTHS + r" \d"),
    _cue("visit", "high", N_("plans to come in"),
         r"\bgel(ebilir|sem|mek isti|iyorum|iyoruz|ecegim|ecegiz|icem|icez)"),
    _cue("decided", "high", N_("says they have decided"),
         r"\bkesin\b|\bkarar(imi)? verdi|\banlastik|\bonayliyorum|\bhemen\b|\btamam o zaman|"
         r"\bbasla(mak isti|yalim)"),
    _cue("price", "medium", N_("asks about the price"),
         r"\bfiyat|\bkac (tl|lira|para|euro|dolar)|\bne kadar\b(?! sur)|\bucret|\bmaliyet|"
         r"\btutar|\bkac paraya|\bkdv|\bne tutar"),
    _cue("compare", "medium", N_("compares prices or options"),
         r"\bbaska (yer|site|klinik|otel|firma|magaza|bir)|\bdaha (ucuz|uygun|pahali|kaliteli)|"
         r"\bfark(i|lari)?\b|\barasinda|\bhangisi"),
    _cue("discount", "medium", N_("asks about discounts or instalments"),
         r"\bindirim|\btaksit|\bkampanya|\bkupon|\bkod(u)?\b|\bpesin|\bucretsiz|\bbedava"),
    _cue("availability", "medium", N_("asks about availability or stock"),
         r"\bstok|\bmusait|\bbos (oda|yer|saat|randevu|gun)|\byer(iniz)? (var|kal)|\bbeden(i)? "
         r"var|\bnumara(si)? var|\bkaldi mi|\brenk(leri)? var|\bboyut"),
    _cue("information", "low", N_("asks for general information"),
         r"\bbilgi (al|ver|rica|ist)|\bhakkinda|\bkatalog|\bnasil yapil|\bmerak|\bne tur|"
         r"\bneler (var|yapi)|\bhangi (hizmet|tedavi|urun)"),
    _cue("undecided", "low", N_("has not decided yet"),
         r"\bbelki|\bdusunuyor|\bhenuz|\bkarar ver(e)?me|\bkararsiz|\bsimdilik|\bileride|"
         r"\bbir ara\b|\barastir|\bsadece bak|\bdonus yapaca"),
    _cue("after_sale", "none", N_("writes about an earlier order or visit, or a complaint"),
         r"\biade|\bdegisim|\bdegistir|\biptal|\bsikayet|\bsiparisim|\bkargo(m|su|yu)? "
         r"(nerede|gelmedi|ulasmadi|hala)|\btakip (no|num|kod)|\bhasarli|\beksik|\byanlis "
         r"(urun|beden|renk)|\bfaturam|\brezalet|\bberbat|\bgelmedi\b|\bparam"),
    _cue("not_buying", "none", N_("is not about buying (a job, an offer, a wrong number)"),
         r"\bis basvur|\bstaj|\beleman|\btedarik|\bisbirli|\breklam|\bajans|\byanlis numara|"
         r"\bodev|\bcv\b|\bozgecmis"),
)
GENERIC_REASONS = {
    "none": N_("shows no sign of wanting to buy"),
    "low": N_("shows general interest only"),
    "medium": N_("asks about the details of a product or service"),
    "high": N_("reads like a customer ready to buy"),
}
INTENT_LEVELS = ("none", "low", "medium", "high")
SENTIMENT_LABELS = ("negative", "neutral", "positive")
_MAX_REASONS = 3


def intent_cues(text: str) -> list[IntentCue]:
    """The cues a message shows, in the order of ``INTENT_CUES``."""
    joined = " ".join(words(text))
    return [cue for cue in INTENT_CUES if cue.pattern.search(joined)]


# A message made only of these (and short words) is courtesy, not interest.
_COURTESY_WORDS = """
merhaba merhabalar selam selamlar slm mrb iyi günler akşamlar sabahlar geceler çalışmalar
teşekkür teşekkürler teşekkür ederim tşk tşkler sağol sağolun sağ olun tamam tamamdır peki ok
okey anladım kolay gelsin hayırlı bayramlar hmm evet hayır rica ederim
"""
_COURTESY = frozenset(fold(word) for word in _COURTESY_WORDS.split())


def _intent_vector(text: str) -> list[float]:
    found = {cue.name for cue in intent_cues(text)}
    only_courtesy = not any(len(word) > 2 and word not in _COURTESY for word in words(text))
    return [float(cue.name in found) for cue in INTENT_CUES] + [float(only_courtesy)]


def _reasons(level: str, cues: list[IntentCue]) -> list[str]:
    """Up to three cues that support ``level``: its own first, then the nearest levels'."""
    rank = INTENT_LEVELS.index(level)
    ordered = sorted(cues, key=lambda cue: abs(INTENT_LEVELS.index(cue.level) - rank))
    chosen = [cue.reason for cue in ordered
              if abs(INTENT_LEVELS.index(cue.level) - rank) <= 1][:_MAX_REASONS]
    return chosen or [GENERIC_REASONS[level]]


# --- the seed models -------------------------------------------------------------------------

@dataclass(frozen=True)
class Sentiment:
    label: str  # negative, neutral or positive
    scores: dict[str, float]  # each label's probability


@dataclass(frozen=True)
class Intent:
    level: str  # none, low, medium or high
    scores: dict[str, float]  # each level's probability
    reasons: tuple[str, ...]  # 1-3 English sentences (catalogued): why this level


# Chosen by 5-fold cross-validation on the seed sets (never on the evaluation set): how much
# the cue features weigh next to the unit-length embedding, and the regression's strength.
SEED_EMBEDDING_KIND: EmbeddingKind = "passage"
CUE_SCALE = 0.3
SENTIMENT_C = 10.0
INTENT_C = 30.0


def load_seed(name: str) -> tuple[list[str], list[str], tuple[str, ...]]:
    """(texts, labels, label order) of ``seed/<name>.json``."""
    data = json.loads((SEED / f"{name}.json").read_text(encoding="utf-8"))
    return ([example["text"] for example in data["examples"]],
            [example["label"] for example in data["examples"]], tuple(data["labels"]))


class SeedClassifier:
    """A logistic regression over [embedding, cue features × ``cue_scale``]."""

    def __init__(self, cues: Callable[[str], list[float]], *,
                 embedding_kind: EmbeddingKind = SEED_EMBEDDING_KIND,
                 cue_scale: float = CUE_SCALE, c: float = SENTIMENT_C,
                 use_embedding: bool = True, embed: Embed | None = None) -> None:
        self.cues = cues
        self.cue_scale = cue_scale
        self.c = c
        self.use_embedding = use_embedding
        self._embed = embed or _embedder(embedding_kind)
        self._model: LogisticRegression | None = None
        self.labels: tuple[str, ...] = ()

    def features(self, texts: list[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        cues = np.array([self.cues(text) for text in texts], dtype=np.float64) * self.cue_scale
        if not self.use_embedding:
            return cues
        vectors = self._embed(texts) if embeddings is None else embeddings
        return np.hstack([vectors, cues])

    def fit(self, texts: list[str], labels: list[str], order: tuple[str, ...], *,
            embeddings: np.ndarray | None = None) -> SeedClassifier:
        self.labels = order
        self._model = LogisticRegression(C=self.c, max_iter=5000,
                                         random_state=RANDOM_STATE)
        self._model.fit(self.features(texts, embeddings), labels)
        return self

    def probabilities(self, texts: list[str], *,
                      embeddings: np.ndarray | None = None) -> list[dict[str, float]]:
        assert self._model is not None
        if not texts:
            return []
        matrix = self._model.predict_proba(self.features(texts, embeddings))
        classes = list(self._model.classes_)
        return [{label: round(float(row[classes.index(label)]), 4) for label in self.labels}
                for row in matrix]


@functools.cache
def _sentiment_model() -> SeedClassifier:
    texts, labels, order = load_seed("sentiment")
    return SeedClassifier(lambda text: sentiment_cues(text).vector(),
                          c=SENTIMENT_C).fit(texts, labels, order)


@functools.cache
def _intent_model() -> SeedClassifier:
    texts, labels, order = load_seed("intent")
    return SeedClassifier(_intent_vector, c=INTENT_C).fit(texts, labels, order)


def warm_up() -> None:
    """Load the embedder and fit the seed classifiers now (a few seconds), not on the first
    analysis a person asks for."""
    _sentiment_model()
    _intent_model()


def _best(scores: dict[str, float], order: tuple[str, ...]) -> str:
    return max(order, key=lambda label: (scores[label], -order.index(label)))


def seed_embeddings(texts: Sequence[str]) -> np.ndarray:
    """The texts' vectors as both seed models read them: embed once, then ask ``sentiment``
    and ``intent`` with ``embeddings=``."""
    return _embedder(SEED_EMBEDDING_KIND)(list(texts))


def sentiment(texts: Sequence[str], *, embeddings: np.ndarray | None = None
              ) -> list[Sentiment]:
    """Each message's sentiment (fits the model on first use, a few seconds)."""
    texts = list(texts)
    if not texts:
        return []
    return [Sentiment(_best(scores, SENTIMENT_LABELS), scores)
            for scores in _sentiment_model().probabilities(texts, embeddings=embeddings)]


def intent(texts: Sequence[str], *, embeddings: np.ndarray | None = None) -> list[Intent]:
    """Each message's purchase intent with its reasons (fits the model on first use)."""
    texts = list(texts)
    if not texts:
        return []
    results = []
    for text, scores in zip(texts, _intent_model().probabilities(texts, embeddings=embeddings),
                            strict=True):
        level = _best(scores, INTENT_LEVELS)
        results.append(Intent(level, scores, tuple(_reasons(level, intent_cues(text)))))
    return results
