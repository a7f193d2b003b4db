"""SMS parts counted as operators bill them: GSM-7, the Turkish single-shift table, UCS-2."""

import pytest

from invekto.channels.sms import sms_length


@pytest.mark.parametrize(("text", "turkish", "expected"), [
    ("", False, ("GSM-7", 0)),
    ("Merhaba, randevunuz yarın değil mi?", False, ("UCS-2", 1)),  # ı and ğ: not GSM
    ("Merhaba, randevunuz yarın değil mi?", True, ("GSM-7 Turkish", 1)),
    ("Görüşmek üzere", False, ("UCS-2", 1)),  # ş
    ("Gorusmek uzere Ç ö ü Ö Ü", False, ("GSM-7", 1)),  # these five are in the GSM alphabet
    ("a" * 160, False, ("GSM-7", 1)),
    ("a" * 161, False, ("GSM-7", 2)),  # 153 + 8
    ("a" * 306, False, ("GSM-7", 2)),
    ("a" * 307, False, ("GSM-7", 3)),
    ("a" * 159 + "€", False, ("GSM-7", 2)),  # the euro sign costs two septets: 161
    ("ş" * 70, False, ("UCS-2", 1)),
    ("ş" * 71, False, ("UCS-2", 2)),  # 67 + 4
    ("ş" * 77, True, ("GSM-7 Turkish", 1)),  # 154 septets of the 155 left by the header
    ("ş" * 78, True, ("GSM-7 Turkish", 2)),
    ("Siparişiniz kargoda 🚚", True, ("UCS-2", 1)),  # an emoji is UCS-2 whatever the provider
    ("🚚" * 35, False, ("UCS-2", 1)),  # surrogate pairs: two units each, 70
    ("🚚" * 36, False, ("UCS-2", 2)),
])
def test_encoding_and_parts(text, turkish, expected):
    length = sms_length(text, turkish_shift=turkish)
    assert (length.encoding, length.segments) == expected
    assert length.characters == len(text)


def test_a_two_septet_character_never_straddles_two_parts():
    # 152 septets, then "€" (2): it does not fit the first part's last septet.
    length = sms_length("a" * 152 + "€" + "b" * 10, turkish_shift=False)
    assert (length.segments, length.per_segment, length.remaining) == (2, 153, 153 - 12)


def test_what_is_left_in_the_last_part():
    assert sms_length("Merhaba").remaining == 160 - 7  # one message alone holds 160
    assert sms_length("a" * 200).remaining == 153 - 47  # parts of a longer one hold 153
