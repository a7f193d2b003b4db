"""The words with which a customer withdraws or gives marketing consent in a message.

Matched Turkish-aware (``core.text.words``: case, accents and İ/ı folded: "İPTAL", "iptal",
"Iptal." are one word). A word a customer could mean otherwise must not change their consent:

* Withdrawal (any channel): the whole message is one of the words ("STOP", "İptal", "DUR!",
  "RET"), because in a chat "İptal etmek istiyorum" is about an appointment and "Dur bir
  dakika" about nothing at all. On SMS, the reply to a commercial text, İYS's own form also
  counts: the word first, then anything ("RET ACME", ``channels.sms.opt_out_word``).
* Consent (SMS and WhatsApp only, where the network proves the sender's number, never a chat
  where the visitor typed it): the whole message is "KATIL" or "EVET ONAY", which brands print
  as the reply that signs up; a bare "EVET" or "ONAY" answers appointment reminders too, so it
  never counts.
"""

from __future__ import annotations

from invekto.channels.sms import SMS_KINDS, opt_out_word
from invekto.core.text import words

WITHDRAW_WORDS = ("STOP", "İPTAL", "DUR", "RET")
GIVE_PHRASES = ("KATIL", "EVET ONAY")
# Channels whose sender's phone number the network vouches for.
VERIFIED_NUMBER_KINDS = (*SMS_KINDS, "whatsapp_cloud", "whatsapp_bsp")

_WITHDRAW = {" ".join(words(word)): word for word in WITHDRAW_WORDS}
_GIVE = {" ".join(words(phrase)): phrase for phrase in GIVE_PHRASES}


def withdrawal(body: str, channel_kind: str) -> str | None:
    """The withdrawal word ``body`` is (as we list it), or None."""
    found = _WITHDRAW.get(" ".join(words(body)))
    if found is None and channel_kind in SMS_KINDS:
        found = opt_out_word(body)
    return found


def consent_given(body: str, channel_kind: str) -> str | None:
    """The sign-up phrase ``body`` is, on a channel that proves the number; else None."""
    if channel_kind not in VERIFIED_NUMBER_KINDS:
        return None
    return _GIVE.get(" ".join(words(body)))
