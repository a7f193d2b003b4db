"""Full-text search for the inbox and the contact list.

Message bodies are matched with the ``invekto_turkish`` text search configuration (accent folding,
then Turkish stemming: "randevularım" finds "Randevularınız"), contact names and e-mail addresses
with ``invekto_names`` (folded, never stemmed: "ayse" finds "Ayşe"), phone numbers by the digits
typed (a trigram index serves ``LIKE '%digits%'``). Every word typed must match, each as the
start of a word ("randev" finds "randevu").

The user's text never reaches ``to_tsquery``'s syntax: it is cut into words by a Unicode-aware
pattern, so operators, quotes and backslashes are simply not part of any word, and each word is
quoted before it becomes a prefix term. A query with nothing searchable in it matches nothing.

The conditions are shaped for PostgreSQL's GIN indexes: the matching contacts and messages are
found in their own uncorrelated subqueries, never tested conversation by conversation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Select,
    Text,
    Uuid,
    any_,
    case,
    cast,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    union,
)
from sqlalchemy.dialects.postgresql import TSQUERY

from invekto.contacts.models import NAME_SEARCH_CONFIG, Contact
from invekto.core.actor import Actor
from invekto.core.text import fold
from invekto.inbox.models import SEARCH_CONFIG, Conversation, Message

# Longer input is cut here (the API already refuses more than 200 characters of ``q``).
MAX_QUERY_LENGTH = 200
# At most this many words count; more only narrows what was already narrow.
MAX_WORDS = 12
# Fewer digits than this match too many numbers (and a trigram index needs three characters).
MIN_PHONE_DIGITS = 3
# A shorter stem is matched exactly, not as the start of words (see _word_query).
MIN_PREFIX_STEM = 3

# Letters and digits of any script; the underscore is a word character to ``\w`` but not to us.
_WORD = re.compile(r"[^\W_]+")
# What an e-mail address (or the start of one) may contain once folded.
_EMAIL_CHUNK = re.compile(r"[a-z0-9._+-]*@[a-z0-9.-]*")
_NON_DIGIT = re.compile(r"[^0-9]")


@dataclass(frozen=True)
class SearchTerms:
    """What a search box query means: words (each the start of a word), starts of e-mail
    addresses, and the digits of a phone number fragment (or ``None``)."""

    words: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    phone_digits: str | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.words or self.emails or self.phone_digits)


def parse(q: str | None) -> SearchTerms:
    """Cut a search box query into terms. Folding here (case, accents, dotted and dotless i) is
    the same PostgreSQL's configurations do, so a word stems the same on both sides."""
    folded = fold((q or "")[:MAX_QUERY_LENGTH])
    words: list[str] = []
    emails: list[str] = []
    for chunk in folded.split():
        email = _EMAIL_CHUNK.search(chunk)
        if email and email.group().strip("@.+_-"):
            # PostgreSQL keeps an e-mail address as one lexeme: match the start of it whole.
            emails.append(email.group().strip("."))
            chunk = chunk[:email.start()] + " " + chunk[email.end():]
        words.extend(_WORD.findall(chunk))
    return SearchTerms(words=tuple(dict.fromkeys(words))[:MAX_WORDS],
                       emails=tuple(dict.fromkeys(emails))[:MAX_WORDS],
                       phone_digits=_phone_digits(folded))


def _phone_digits(folded: str) -> str | None:
    digits = _NON_DIGIT.sub("", folded)
    # Numbers are stored in E.164 (+905321234567); people type them nationally (0532 ...) or
    # with the international prefix (0090 532 ...). Dropping those prefixes only widens the match.
    if digits.startswith("00"):
        digits = digits[2:]
    elif digits.startswith("0"):
        digits = digits[1:]
    return digits if len(digits) >= MIN_PHONE_DIGITS else None


def prefix_term(word: str) -> str:
    """A word as ``to_tsquery`` input: quoted, matching any word it starts. Words hold only
    letters and digits, so the quoting cannot be escaped from."""
    return f"'{word}':*"


def _regconfig(config: str) -> ColumnElement:
    return literal_column(f"'{config}'::regconfig")


def _word_query(config: str, word: str, *, stemmed: bool) -> ColumnElement:
    prefix = func.to_tsquery(_regconfig(config), literal(prefix_term(word)), type_=TSQUERY)
    if not stemmed:
        return prefix
    # Stemmed, then as a prefix: "randevumu" becomes 'randev':*, which finds "randevu". But
    # Turkish stems can be very short ("ayşe" gives 'a', "iyi" gives 'i'), and such a prefix
    # would match most words: a stem under MIN_PREFIX_STEM letters must match exactly.
    stem = func.tsvector_to_array(func.to_tsvector(_regconfig(config), literal(word)),
                                  type_=ARRAY(Text))[1]
    exact = func.to_tsquery(_regconfig(config), literal(f"'{word}'"), type_=TSQUERY)
    return case((func.char_length(stem) < MIN_PREFIX_STEM, exact), else_=prefix)


def tsquery(config: str, terms: SearchTerms, *, stemmed: bool) -> ColumnElement | None:
    """All the terms as one ``tsquery`` under ``config`` (which folds, and stems when
    ``stemmed``), or ``None`` when the query has no words. Stop words drop out."""
    parts = [_word_query(config, word, stemmed=stemmed) for word in terms.words]
    if terms.emails:
        # Cast, not parsed: the text search parser would cut "ilker@example" into two words.
        lexemes = " & ".join(prefix_term(email) for email in terms.emails)
        parts.append(cast(literal(lexemes), TSQUERY))
    if not parts:
        return None
    combined = parts[0]
    for part in parts[1:]:
        combined = combined.op("&&", return_type=TSQUERY)(part)
    return combined


def _contact_condition(terms: SearchTerms) -> ColumnElement[bool] | None:
    conditions: list[ColumnElement[bool]] = []
    names = tsquery(NAME_SEARCH_CONFIG, terms, stemmed=False)
    if names is not None:
        conditions.append(Contact.search_vector.bool_op("@@")(names))
    if terms.phone_digits:
        conditions.append(Contact.phone.like(f"%{terms.phone_digits}%"))
    return or_(*conditions) if conditions else None


def contact_match(actor: Actor, q: str) -> ColumnElement[bool]:
    """A condition on ``Contact``: the name or e-mail address has every word typed (each as the
    start of a word), or the phone number holds the digits typed."""
    condition = _contact_condition(parse(q))
    return condition if condition is not None else false()


def conversation_match(actor: Actor, q: str) -> ColumnElement[bool]:
    """A condition on ``Conversation``: its contact matches (see ``contact_match``) or one of its
    messages has every word typed, in any inflection.

    Shaped as ``id = ANY(ARRAY(conversations of matching contacts UNION conversations of
    matching messages))``: each side starts from its GIN index, the ids are gathered once, and
    the conversations are fetched by primary key. (As ``id IN (...)`` the planner made it a
    semi-join and, misjudging how few distinct conversations the matches fall in, hashed and
    read every conversation of the company: 100 ms on 100,000 conversations instead of 60.)"""
    terms = parse(q)
    sources: list[Select] = []
    contacts = _contact_condition(terms)
    if contacts is not None:
        sources.append(select(Conversation.id).where(
            Conversation.tenant_id == actor.tenant_id,
            Conversation.contact_id.in_(
                select(Contact.id).where(Contact.tenant_id == actor.tenant_id, contacts))))
    bodies = tsquery(SEARCH_CONFIG, terms, stemmed=True)
    if bodies is not None:
        sources.append(select(Message.conversation_id).where(
            Message.tenant_id == actor.tenant_id, Message.search_vector.bool_op("@@")(bodies)))
    if not sources:
        return false()
    found = (union(*sources) if len(sources) > 1 else sources[0]).subquery()
    # Cast: ``= ANY (SELECT ...)`` would compare with each row; this is one array.
    ids = cast(select(func.array_agg(found.c[0])).scalar_subquery(), ARRAY(Uuid))
    return Conversation.id == any_(ids)
