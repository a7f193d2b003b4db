"""What a customer's message asks about, word by word: the content words of a Turkish message
(folded, without the greetings, fillers and question particles that carry no topic), and
whether a passage covers them.

A question whose topic word appears nowhere in the best passage ("zirkonyum kaplama" against
a FAQ on implant prices) is the clearest sign the knowledge base does not answer it, whatever
the embeddings say; ``answering`` weighs that in its confidence."""

from __future__ import annotations

from invekto.core.text import fold, words

# PostgreSQL's Turkish snowball stop words, plus what WhatsApp messages are made of around the
# question: greetings, thanks, forms of address, particles and the verbs of asking.
_STOP = """
acaba ama aslında az bazı belki biri birkaç birşey biz bu çok çünkü da daha de defa diye eğer
en gibi hem hep hepsi her hiç için ile ise kez ki kim mı mu mü mi nasıl ne neden nerde nerede
nereye niçin niye o sanki şey siz şu tüm ve veya ya yani
merhaba merhabalar selam selamlar slm mrb meraba iyi günler akşamlar sabahlar geceler
teşekkür teşekkürler tşk tşkler tesekkurler sağol sağolun sağ olun rica ederim lütfen
abi abla hocam hanım hanımefendi bey beyefendi efendim kardeşim arkadaşlar
var yok mısınız misiniz musunuz müsünüz mıyım miyim olur olabilir oluyor acep bi bir iki
bunu bunun şunu onu onun benim bana beni sizin size sizde sizden bizim bize ben sen
kadar kaç zaman hangi nereden istiyorum istiyoruz isterim istiyordum alabilir yapabilir
yapıyor yapılıyor yapar ediyor edebilir edilir eder mümkün lazım gerek gerekiyor
tamam peki evet hayır hani işte şimdi sonra önce hala hâlâ artık sadece yine yaa
"""
STOP_WORDS = frozenset(fold(word) for word in _STOP.split())
# Turkish suffixes follow the stem: two words sharing their first letters up to this many are
# taken as forms of one word ("fiyatı", "fiyatlarınız").
STEM = 5
MIN_CONTENT_LETTERS = 3


def content_words(text: str) -> list[str]:
    """The folded topic words of ``text``, in order (numbers left out)."""
    return [word for word in words(text)
            if len(word) >= MIN_CONTENT_LETTERS and word not in STOP_WORDS
            and not word.isdigit()]


def _stem(word: str) -> str:
    return word[:STEM]


def uncovered_share(question: str, passage: str) -> float:
    """The share (0..1) of the question's content words the passage has no form of."""
    asked = content_words(question)
    if not asked:
        return 0.0
    present = {_stem(word) for word in content_words(passage)}
    return sum(_stem(word) not in present for word in asked) / len(asked)
