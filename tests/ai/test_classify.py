"""The builtin classifiers (``invekto.ai.classify``), with the real offline embedder and no
database: a company's tags learnt from a few tagged conversations, and the seed-trained
sentiment and purchase-intent models with their Turkish rules."""

from __future__ import annotations

import pytest

from invekto.ai import classify

# A small company's tagged conversations (customer messages), written for this test.
TAGGED = [
    ("İmplant fiyatınız ne kadar?", ["fiyat"]),
    ("Diş beyazlatma kaç TL acaba", ["fiyat"]),
    ("Zirkonyum kaplama ücreti nedir", ["fiyat"]),
    ("Fiyat listenizi atar mısınız", ["fiyat"]),
    ("Dolgu yaptırmak ne kadar tutar", ["fiyat"]),
    ("Muayene ücretli mi, kaç lira", ["fiyat"]),
    ("Kargom hâlâ gelmedi, nerede?", ["kargo"]),
    ("Paketim ne zaman kargoya verilir", ["kargo"]),
    ("Kargo takip numarası çalışmıyor", ["kargo"]),
    ("Siparişim 4 gündür yolda, kargo firması hangisi", ["kargo"]),
    ("Kurye adresimi bulamamış, paket geri dönmüş", ["kargo"]),
    ("Aldığım ürünü iade etmek istiyorum", ["iade"]),
    ("İade kodunu nasıl alırım", ["iade"]),
    ("Ürünü geri gönderdim, param ne zaman yatar", ["iade"]),
    ("Beğenmedim, geri iade edeceğim", ["iade"]),
    ("İade süresi kaç gün", ["iade"]),
    ("Ürün kırık geldi, iade edip kargo ücretini geri istiyorum", ["iade", "kargo"]),
    ("Merhaba, büyük müşteriyiz, özel indirim olur mu", ["vip"]),
    ("Kurumsal alım için yazıyorum", ["vip"]),
]


@pytest.fixture(scope="module")
def tag_model() -> classify.TagModel:
    return classify.TagModel.fit(TAGGED)


def test_learns_the_tags_and_tags_new_wordings(tag_model):
    assert tag_model.tags == ["fiyat", "iade", "kargo"]
    new = ["Kanal tedavisinin fiyatı nedir, kaç para?",
           "Siparişimin kargosu hâlâ yola çıkmadı",
           "Bu pantolonu iade edebilir miyim, param geri gelir mi"]
    best = [max(probabilities, key=probabilities.get)
            for probabilities in tag_model.predict(new)]
    assert best == ["fiyat", "kargo", "iade"]


def test_a_tag_with_too_few_examples_is_never_predicted(tag_model):
    assert tag_model.counts["vip"] == 2 < classify.MIN_EXAMPLES
    # Not even for the very text it was given with.
    for probabilities in tag_model.predict(["Kurumsal alım için yazıyorum",
                                            "Büyük müşteriyiz, özel indirim olur mu"]):
        assert "vip" not in probabilities
        assert "vip" not in classify.choose_tags(probabilities, 0.0)


def test_nothing_learnt_from_too_few_examples():
    model = classify.TagModel.fit([("Kargom nerede", ["kargo"]), ("İade nasıl", ["iade"])])
    assert model.tags == []
    assert model.predict(["Kargom gelmedi"]) == [{}]


def test_choose_tags_keeps_those_at_or_above_the_threshold_best_first():
    probabilities = {"kargo": 0.42, "iade": 0.91, "fiyat": 0.10, "stok": 0.42}
    assert classify.choose_tags(probabilities, 0.4) == ["iade", "kargo", "stok"]
    assert classify.choose_tags(probabilities, 0.5) == ["iade"]
    assert classify.choose_tags(probabilities, 0.4, limit=1) == ["iade"]
    # Not even the best passes: no tag rather than a wrong one.
    assert classify.choose_tags(probabilities, 0.95) == []
    assert classify.choose_tags({}, 0.1) == []


def test_a_higher_threshold_never_adds_tags(tag_model):
    probabilities = tag_model.predict(["Ürün kırık, iade ve kargo ücreti ne olacak"])[0]
    previous = None
    for threshold in (0.1, 0.3, 0.5, 0.7, 0.9):
        chosen = classify.choose_tags(probabilities, threshold)
        assert previous is None or set(chosen) <= set(previous)
        previous = chosen


def test_tune_threshold_picks_one_of_the_grid():
    threshold = classify.tune_threshold(TAGGED, folds=3, grid=[0.3, 0.5, 0.7])
    assert threshold in (0.3, 0.5, 0.7)


def test_conversation_text_is_the_customer_messages_in_order():
    assert classify.conversation_text(["  Merhaba ", "", "Kargom nerede?"]) == \
        "Merhaba\nKargom nerede?"


@pytest.mark.parametrize(("text", "expected"), [
    ("çok teşekkürler harikasınız 🙏", "positive"),
    ("rezalet, param hâlâ iade edilmedi", "negative"),
    ("saat kaçta açılıyorsunuz", "neutral"),
    ("hiç memnun kalmadım", "negative"),
])
def test_sentiment_of_clear_cases(text, expected):
    [result] = classify.sentiment([text])
    assert result.label == expected
    assert set(result.scores) == {"negative", "neutral", "positive"}
    assert result.scores[expected] == max(result.scores.values())
    assert sum(result.scores.values()) == pytest.approx(1, abs=1e-3)


@pytest.mark.parametrize("text", ["fena değil", "kötü değildi, gayet idare eder",
                                  "hiç sorun yaşamadık"])
def test_negated_complaints_are_not_negative(text):
    [result] = classify.sentiment([text])
    assert result.label != "negative"
    assert classify.rule_sentiment(text) == "positive"


@pytest.mark.parametrize("text", ["hiç memnun kalmadım", "ürünü hiç beğenmedim",
                                  "odalar güzel değildi", "kimseye tavsiye etmem"])
def test_negated_praise_is_negative_by_the_rules(text):
    assert classify.rule_sentiment(text) == "negative"


def test_sarcasm_turns_praise_into_complaint():
    cues = classify.sentiment_cues("Ne hoş, 2 haftadır paketimi bekliyorum, süpersiniz 👏")
    assert cues.sarcasm
    assert cues.negative > 0 and cues.positive == 0


def test_greetings_are_not_praise():
    assert classify.sentiment_cues("iyi günler, kolay gelsin").positive == 0


@pytest.mark.parametrize(("text", "level", "reason"), [
    ("Yarın saat 11'e randevu alabilir miyim, ödemeyi nasıl yapacağım",
     "high", "asks for a date or time"),
    ("İki kişilik odanın gecelik fiyatı kaç TL, taksit yapıyor musunuz",
     "medium", "asks about the price"),
    ("Kargom hâlâ gelmedi, siparişim nerede", "none",
     "writes about an earlier order or visit, or a complaint"),
])
def test_intent_of_clear_cases_with_a_reason(text, level, reason):
    [result] = classify.intent([text])
    assert result.level == level
    assert reason in result.reasons
    assert 1 <= len(result.reasons) <= 3
    assert set(result.scores) == set(classify.INTENT_LEVELS)


def test_intent_without_a_cue_still_gives_a_reason():
    [result] = classify.intent(["hmm"])
    assert len(result.reasons) == 1


def test_empty_input_gives_empty_output():
    assert classify.sentiment([]) == []
    assert classify.intent([]) == []


def test_deterministic(tag_model):
    texts = ["Kargo ne zaman gelir, iade de edebilir miyim", "İmplant kaç para"]
    again = classify.TagModel.fit(TAGGED)
    assert again.predict(texts) == tag_model.predict(texts)
    texts, labels, order = classify.load_seed("sentiment")
    first = classify.SeedClassifier(lambda t: classify.sentiment_cues(t).vector()).fit(
        texts, labels, order)
    second = classify.SeedClassifier(lambda t: classify.sentiment_cues(t).vector()).fit(
        texts, labels, order)
    probe = ["idare eder", "berbattı", "adresiniz nedir"]
    assert first.probabilities(probe) == second.probabilities(probe)


def test_seed_sets_are_balanced_and_labelled_within_their_labels():
    for name, labels in (("sentiment", classify.SENTIMENT_LABELS),
                         ("intent", classify.INTENT_LEVELS)):
        texts, given, order = classify.load_seed(name)
        assert set(order) == set(labels) == set(given)
        assert 150 <= len(texts) <= 250
        assert len(set(texts)) == len(texts)
        assert min(given.count(label) for label in labels) >= len(texts) / len(labels) * 0.8
