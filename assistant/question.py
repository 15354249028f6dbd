"""A question analysed once: what it asks for, in which language, with which key terms.

`Assistant` builds a `Question` when it retrieves and hands it on to the refusal model and the answerer, so
that none of them parses the question again. The cues come from `assistant.cues` (built from
`languages.tables`); the terms from `indexer.tokenize` and, across languages, the index's lexicon.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant import cues
from indexer.lexicon import Lexicon, question_words
from indexer.tokenize import ENGLISH_STOPWORDS, anchor_tokens, tokenize
from languages.detect import detect_language


def content_tokens(text: str) -> set[str]:
    """The tokens of `text` that carry content: English function words and one-letter tokens left out."""
    return {t for t in tokenize(text) if t not in ENGLISH_STOPWORDS and len(t) > 1}


@dataclass
class Question:
    """One question and what it asks for; build it with `Question.analyse`."""

    text: str
    language: str
    #: Elliptic ("And what about Tanzania?"): it only makes sense with the previous turn.
    follow_up: bool
    #: "What are the four traps?": the answer is a list.
    list_question: bool
    #: How many items the question says the answer has ("the four traps" -> 4), if it says.
    count: int | None
    #: The kind of amount asked for: "money", "rate", or None.
    amount: str | None
    #: Where the "how many / how much / when" cue ends, None when the question asks for no quantity or date.
    quantity_end: int | None
    #: The digit runs of the question ("in 2004?": 2004 is not the answer to "how many").
    numbers: frozenset[str]
    #: Its content words (`content_tokens`): the key terms of an English question.
    content_terms: frozenset[str]
    #: Its numbers and names (`indexer.tokenize.anchor_tokens`): what survives translation.
    anchor_terms: tuple[str, ...]
    _translated: dict[int, tuple[Lexicon, list[str], set[str] | None]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def analyse(cls, text: str, language: str | None = None) -> "Question":
        """`text` analysed; `language` detected when not given."""
        quantity = cues.quantity_cue(text)
        return cls(
            text=text,
            language=language or detect_language(text),
            follow_up=cues.is_follow_up(text),
            list_question=cues.is_list_question(text),
            count=cues.stated_count(text),
            amount=cues.asked_amount(text),
            quantity_end=quantity.end() if quantity else None,
            numbers=frozenset(re.findall(r"\d+", text)),
            content_terms=frozenset(content_tokens(text)),
            anchor_terms=tuple(anchor_tokens(text)),
        )

    def wants_list(self, mode: str = "answer") -> bool:
        """"What are the four traps?", or a briefing "on the four traps": answered with a labelled list if the
        evidence has one."""
        return self.list_question or (mode == "briefing" and self.count is not None)

    @property
    def wants_number(self) -> bool:
        """It asks "how many / how much / when": the answer sentence should hold a number."""
        return self.quantity_end is not None

    def translated(self, lexicon: Lexicon | None) -> list[str]:
        """Its words put into the corpus's words by `lexicon` (`Lexicon.terms`), worked out once per lexicon."""
        if lexicon is None:
            return []
        return list(self._with(lexicon)[1])

    def key_terms(self, lexicon: Lexicon | None = None) -> set[str]:
        """The terms an answer sentence should share with the question: an English question's content words;
        for another language its numbers and names, and (with a lexicon) its words in the corpus's words."""
        if self.language == "en":
            return set(self.content_terms)
        return set(self.anchor_terms) | (set(self.translated(lexicon)) if lexicon is not None else set())

    def focus(self, lexicon: Lexicon | None = None) -> set[str]:
        """What a "how many" question counts: the two words after the cue ("how many case studies" -> case,
        studies), put into the corpus's words by `lexicon` when the question is not in English
        ("Combien d'études de cas" -> studies, case)."""
        if self.quantity_end is None:
            return set()
        rest = self.text[self.quantity_end:]
        if lexicon is None or self.language == "en":
            return content_tokens(" ".join(rest.split()[:2]))
        entry = self._with(lexicon)
        if entry[2] is None:
            entry = (*entry[:2], set(lexicon.map_words(question_words(rest, self.language)[:2])))
            self._translated[id(lexicon)] = entry
        return set(entry[2])

    def refusal_terms(self) -> set[str]:
        """The terms the refusal model looks for in the top passages: numbers and names, and for an English
        question all its content words."""
        terms = set(self.anchor_terms)
        if self.language == "en":
            terms |= self.content_terms
        return terms

    def _with(self, lexicon: Lexicon) -> tuple[Lexicon, list[str], set[str] | None]:
        entry = self._translated.get(id(lexicon))
        if entry is None or entry[0] is not lexicon:
            entry = (lexicon, lexicon.terms(self.text, self.language), None)
            self._translated[id(lexicon)] = entry
        return entry


def as_question(question: str | Question, language: str | None = None) -> Question:
    """`question` if already analysed, else its analysis (in `language`, when given)."""
    return question if isinstance(question, Question) else Question.analyse(question, language)


def question_text(question: str | Question) -> str:
    return question.text if isinstance(question, Question) else question
