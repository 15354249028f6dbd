"""Answerers: turn retrieved evidence into a cited answer.

`ExtractiveAnswerer` (the default) writes no text of its own: it picks the sentences
that answer the question from the evidence, drops near-duplicates, orders them and
ends each with a citation marker. `assistant.llm.LLMAnswerer` generates instead.
Both return a `Draft`; `assistant.pipeline` turns it into the public `Answer`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from assistant.retrieval import Hit
from assistant.types import Citation
from indexer.lexicon import Lexicon, question_words
from indexer.tokenize import ENGLISH_STOPWORDS, anchor_tokens, tokenize

Mode = Literal["answer", "briefing"]

#: What the assistant says when the documents do not answer, per question language.
CANNOT_ANSWER = {
    "en": "The documents do not answer this question.",
    "zh": "文档中没有回答这个问题的内容。",
    "fr": "Les documents ne répondent pas à cette question.",
    "es": "Los documentos no responden a esta pregunta.",
    "ar": "لا تجيب الوثائق عن هذا السؤال.",
    "pt": "Os documentos não respondem a esta pergunta.",
    "sw": "Nyaraka hazijibu swali hili.",
    "bn": "নথিগুলিতে এই প্রশ্নের উত্তর নেই।",
    "de": "Die Dokumente beantworten diese Frage nicht.",
    "hi": "दस्तावेज़ इस प्रश्न का उत्तर नहीं देते।",
    "ru": "Документы не отвечают на этот вопрос.",
}


def cannot_answer(language: str) -> str:
    return CANNOT_ANSWER.get(language, CANNOT_ANSWER["en"])


@dataclass
class Sentence:
    """A candidate sentence of the evidence."""

    hit_rank: int
    hit: Hit
    index: int  # position within hit.chunk.sentences
    text: str
    page: int
    score: float
    vector: np.ndarray | None
    typed: bool = False  # holds what the question asks for (a number, for "how many / when" questions)
    features: dict[str, float] = field(default_factory=dict)  # what `score` was summed from


@dataclass
class Draft:
    """An answerer's output before it becomes an `Answer`."""

    text: str
    citations: list[Citation]
    refused: bool = False
    raw: str = ""
    generator: str = ""
    notes: list[str] = field(default_factory=list)


class Answerer(ABC):
    name: str

    @abstractmethod
    def answer(self, question: str, language: str, hits: list[Hit], mode: Mode = "answer",
               history: list[dict] | None = None) -> Draft:
        """Answer from `hits` (already judged answerable); set `refused` if the evidence turns out not to answer."""


# -- helpers shared by answerers ------------------------------------------------------------------

# What a citation marker looks like: [3], [1, 2], [4-6], or an LLM evidence key [e1a2b3c4].
_MARKER_RE = re.compile(r"\[(\s*(?:\d{1,3}|e[0-9a-f]{7})(?:\s*[,;\u2013-]\s*(?:\d{1,3}|e[0-9a-f]{7}))*\s*)\]")


def shown(sentence: str) -> str:
    """A quoted sentence as it appears in the answer text: markers that the document itself contains ("[2]",
    "[e1234567]") become "(2)", so the answer's only [n] markers are its own citations. The citation's quote
    keeps the verbatim text."""
    return _MARKER_RE.sub(r"(\1)", sentence)


_MIN_WORDS = 5
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")
_STOP = ENGLISH_STOPWORDS


def is_answer_like(text: str) -> bool:
    """A sentence worth quoting: a statement, long enough, not a heading, a question or a list of names."""
    if text.rstrip().endswith(("?", "？", "؟")):
        return False
    if _CJK.search(text):
        return len(text) >= 12
    words = text.split()
    if len(words) < _MIN_WORDS or len(text) < 30:
        return False
    letters = sum(c.isalpha() for c in text)
    if letters / max(len(text), 1) <= 0.55:
        return False
    # Title Case Lines Are Headings Or Captions, Not Answers
    alpha_words = [w for w in words if w[:1].isalpha()]
    capitalised = sum(w[0].isupper() for w in alpha_words)
    return not (len(alpha_words) >= 4 and capitalised / len(alpha_words) > 0.7)


# "How many / how much / when" in our languages: prefer sentences that hold a number.
_QUANTITY = re.compile(
    r"\b(how (many|much|long|old|often)|when|what year|combien|quand|quelle ann[ée]e|cu[aá]nt[oa]s?|cu[aá]ndo|"
    r"qu[eé] a[ñn]o|quant[oa]s?|quando|que ano|ngapi|lini|kiasi gani|mwaka gani|wie viele?|wann|welche[ms]? jahr)\b|"
    r"多少|几|何时|什么时候|哪一年|كم|متى|أي (?:عام|سنة)|কত|ক(?:\u09af\u09bc|\u09df)(?:টি|জন)|কবে|কোন সাল|कितने|कब",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|million|billion)\b", re.IGNORECASE)


# The question asks for an amount of money ("What was the budget ...?", "¿Qué salario ...?", "دولار ...") or
# for a rate or share ("What interest rate ...?", "Quel taux ...", "হার"): passages that state no amount of
# money, or no percentage, can't give it. Arabic words take joined prefixes (ال, و, ب, ل: "الميزانية", not
# "بالنسبة" = "with regard to"); Bengali words take suffixes ("হারের").
_AR = r"(?<![\u0600-\u06ff])(?:ال|و|ب|ل|لل|وال)?"
_BN = r"(?<![\u0980-\u09ff])"
_ASKS_MONEY = re.compile(
    r"\b(budgets?|salary|salaries|wages?|price|dollars?|usd|how much (?:money|funding)|salaire|co[uû]t|prix|"
    r"presupuesto|salario|sueldo|costo|coste|precio|d[oó]lares|or[cç]amento|sal[aá]rio|custo|pre[cç]o|"
    r"bajeti|mshahara|gharama|dola)\b|US\$|预算|工资|薪|费用|成本|美元|多少钱|价格|"
    rf"{_AR}(?:ميزانية|راتب|رواتب|أجر|تكلفة|سعر|دولار)|{_BN}(?:বাজেট|বেতন|খরচ|দাম|ডলার)",
    re.IGNORECASE,
)
_ASKS_RATE = re.compile(
    r"\b(rates?|percentage|percent|share of|interest|taux|pourcentage|tasa|porcentaje|taxa|percentagem|porcentagem|"
    r"juros|asilimia|riba)\b|(?<![效频])率|比例|百分|"
    rf"{_AR}(?:نسبة|معدل|فائدة)|{_BN}(?:হার|শতাংশ|সুদ)",
    re.IGNORECASE,
)
_STATES_MONEY = re.compile(
    r"US\$|\$|€|£|¥|\b(USD|RMB|CNY|EUR|dollars?|yuan|renminbi|euros?|francs?|shillings?|taka|rupees?)\b", re.IGNORECASE)
_STATES_RATE = re.compile(
    r"\d\s*%|\bper\s?cent(age)?\b|\bpercentage points?\b|\b(by half|halved|(a|one|two) thirds?|a quarter|"
    r"one in (two|three|four|five|six|seven|eight|nine|ten|\d+))\b", re.IGNORECASE)


# Per kind: the pattern, and strings one of which any match contains (lowercase). The strings are checked
# first, since the patterns' many word-bounded alternatives make a full scan of three passages take ~1 ms.
_STATES = {
    "money": (_STATES_MONEY, ("$", "€", "£", "¥", "usd", "rmb", "cny", "eur", "dollar", "yuan", "renminbi", "franc",
                              "shilling", "taka", "rupee")),
    "rate": (_STATES_RATE, ("%", "per", "half", "third", "quarter", "one in ")),
}


def asked_amount(question: str) -> str | None:
    """What kind of amount the question asks for: "money", "rate", or None (anything else)."""
    if _ASKS_MONEY.search(question):
        return "money"
    if _ASKS_RATE.search(question):
        return "rate"
    return None


def states_amount(kind: str, text: str) -> bool:
    """Whether `text` states an amount of that kind: a sum of money ("US$ 2 million", "500 yuan") or a rate
    ("85 percent", "33.3%", "fell by half")."""
    pattern, cues = _STATES[kind]
    lowered = text.lower()
    return any(cue in lowered for cue in cues) and bool(pattern.search(text))


# "What are the four traps ...?" in our languages: the answer is a list, not one sentence.
_LIST_QUESTION = re.compile(
    r"\b(what are the|which are the|list the|name the|quels sont|quelles sont|cu[aá]les son|quais s[aã]o|"
    r"ni (zipi|nini|yapi)|welche sind)\b|哪些|哪几|有什么|ما هي|ما هى|কী কী|কোন কোন|কোনগুলো",
    re.IGNORECASE,
)
# "Responsibility trap: Before the pandemic ..." -- a labelled item of a definition list
_LABEL = re.compile(r"^([^\W\d_][\w'’\- ]{0,48}?)\s*[:：]\s+\S")


def is_list_question(question: str) -> bool:
    return bool(_LIST_QUESTION.search(question))


def wants_list(question: str, mode: str = "answer") -> bool:
    """"What are the four traps?", or a briefing "on the four traps": answered with a labelled list if the
    evidence has one."""
    return is_list_question(question) or (mode == "briefing" and stated_count(question) is not None)


# "the four traps": a count of 2..10 stated in the question, in our languages.
_COUNT_WORDS = {
    2: r"two|deux|dos|dois|duas|mbili|miwili|zwei|দুই|দুটি",
    3: r"three|trois|tres|três|tatu|mitatu|drei|তিন",
    4: r"four|quatre|cuatro|quatro|nne|minne|vier|চার",
    5: r"five|cinq|cinco|tano|mitano|fünf|পাঁচ",
    6: r"six|seis|sita|sechs|ছয়",
    7: r"seven|sept|siete|sete|saba|sieben|সাত",
    8: r"eight|huit|ocho|oito|nane|acht|আট",
    9: r"nine|neuf|nueve|nove|tisa|neun|নয়",
    10: r"ten|dix|diez|dez|kumi|zehn|দশ",
}
_COUNT_WORD = "|".join(f"(?P<n{n}>{words})" for n, words in _COUNT_WORDS.items())
_COUNT_LATIN = re.compile(rf"(?<!\w)({_COUNT_WORD})(?:টি|টা)?(?!\w)", re.IGNORECASE)
_COUNT_ZH = re.compile(r"([两二三四五六七八九十])(?:个|大|项|种|类|点|条|步|部分|方面)")
_ZH_DIGITS = {"两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_COUNT_AR = re.compile(r"(?:^|\s)(?:ال)?(ثلاث|أربع|خمس|سبع|ثماني|تسع)")
_AR_DIGITS = {"ثلاث": 3, "أربع": 4, "خمس": 5, "سبع": 7, "ثماني": 8, "تسع": 9}


def stated_count(question: str) -> int | None:
    """How many items the question says the list has ("What are the four traps?" -> 4), if it says."""
    m = re.search(r"(?<![\d.,])([2-9]|10)(?!\d|[.,]\d)", question)
    if m:
        return int(m.group(1))
    m = _COUNT_LATIN.search(question)
    if m:
        return next(int(name[1:]) for name, value in m.groupdict().items() if value)
    m = _COUNT_ZH.search(question)
    if m:
        return _ZH_DIGITS[m.group(1)]
    m = _COUNT_AR.search(question)
    return _AR_DIGITS[m.group(1)] if m else None


def _label(text: str) -> str | None:
    match = _LABEL.match(text)
    if match and 1 <= len(match.group(1).split()) <= 5:
        return match.group(1).strip().lower()
    return None


def labelled_items(candidates: list[Sentence], count: int | None = None) -> list[Sentence]:
    """The list the question asks for, as its labelled items in reading order, or [] if there is none.

    Reports list things as labelled paragraphs. A list is a group of >= 3 "<label>: ..." sentences that
    share a head word ("Responsibility trap: ...", "Expectation trap: ..."), or, when the question states
    how many items it wants, that follow one another in a passage ("Current Gaps: ...", "SDG Push: ...");
    among the lists, the one with the most relevant members wins. The list replaces the whole answer, so
    it must be the one asked about: it has as many items as the question says (`count`), or, when the
    question gives no count, one of its items is among the three best sentences.
    """
    by_position = {(s.hit.chunk.chunk_id, s.index): s for s in candidates}
    groups: dict[tuple, dict[str, Sentence]] = {}
    for s in candidates:
        label = _label(s.text)
        if label:
            groups.setdefault(("head", label.split()[-1]), {}).setdefault(label, s)  # one sentence per label
    for hit in {s.hit.chunk.chunk_id: s.hit for s in candidates}.values() if count else ():
        run: dict[str, Sentence] = {}
        for i, text in enumerate([*hit.chunk.sentence_texts(), ""]):
            label = _label(text)
            if label and (hit.chunk.chunk_id, i) in by_position:
                run.setdefault(label, by_position[(hit.chunk.chunk_id, i)])
                continue
            if len(run) >= 3:
                groups.setdefault(("run", *sorted(run)), run)
            run = {}
    lists = [g for g in groups.values() if len(g) >= 3 and (count is None or len(g) == count)]
    best = max(lists, key=lambda g: sum(s.score for s in g.values()), default=None)
    if best is None:
        return []
    if count is None and not any(s in candidates[:3] for s in best.values()):
        return []
    return sorted(best.values(), key=lambda s: (s.hit.chunk.doc_id, s.hit.chunk.ord, s.index))


_ENUMERATOR = re.compile(r"^\s*\(?\d{1,3}[.)]\s+")


def _holds_new_number(text: str, question_numbers: set[str]) -> bool:
    """A number the question did not already give ("how many ... in 2004?": 2004 is not the answer).
    A list item's own number ("15. IPRCC should ...") is not a quantity."""
    text = _ENUMERATOR.sub("", text)
    digits = set(re.findall(r"\d+", text))
    return bool(digits - question_numbers) or (not digits and bool(_NUMBER.search(text)))


def content_tokens(text: str) -> set[str]:
    return {t for t in tokenize(text) if t not in _STOP and len(t) > 1}


def citation_for(n: int, sentence: Sentence) -> Citation:
    chunk, document = sentence.hit.chunk, sentence.hit.document
    return Citation(
        n=n,
        doc_id=chunk.doc_id,
        title=document.title,
        source=document.source,
        page=sentence.page,
        section=chunk.section,
        quote=sentence.text,
    )


#: How a candidate sentence's features add up to its score (see `candidate_sentences`).
SENTENCE_WEIGHTS = {"similarity": 1.0, "lexical": 0.8, "typed": 1.5, "neighbour": 0.2, "previous": 0.2, "next": 0.2,
                    "first": -0.3, "rank": -0.2, "words": 0.02, "chunk": 0.0}


def candidate_sentences(question: str, language: str, hits: list[Hit],
                        weights: dict[str, float] | None = None, lexicon: Lexicon | None = None) -> list[Sentence]:
    """Every quotable sentence of the evidence, scored for how well it answers `question`.

    score = fused sentence similarity (z over the candidate sentences of the index)
          + 0.8 * lexical bonus (share of the question's content words, or, cross-lingually, of its
            numbers, names and words put into the corpus's words by `lexicon`, found in the sentence)
          + 1.5 when the question asks for a quantity or date and the sentence holds a new number (of
            what it counts, when that word is in the evidence: "Combien d'études de cas" -> studies, case),
            or asks for an amount of money or a rate and the sentence states one (`asked_amount`)
          + 0.2 * the better of its two neighbours' similarity, + 0.2 * the previous one's, + 0.2 * the
            next one's (answers sit next to the sentence that restates the question's topic)
          - 0.3 for the first sentence of its passage (often a heading run into the text)
          - 0.2 * the rank of its passage (0 for the best passage)
          + 0.02 * its length in words, up to 40 (short fragments rarely answer).
    Weights chosen by 5-fold cross-validation on the development set, folds grouped by question
    (a question's translations never straddle folds; `python -m eval.sentence_weights`). Adding the
    previous/next/first/rank terms moved the cross-validated gold sentence among the top three
    candidates .716 -> .729 and first .587 -> .568 (155 questions, on the index `make run` builds);
    every fold chose first -0.3 and rank -0.2, the passage rank carrying most of it. The answer cites
    up to three sentences, so the top three is what counts. The chunk's own score carried no weight once
    the sentence's similarity was in. With the lexicon's words in the key terms (same weights), the
    cross-validated top three went .729 -> .806, first .568 -> .606. Typing money and rate questions by what
    the sentence states (rather than by any number): top three .813 -> .819.
    """
    weights = SENTENCE_WEIGHTS if weights is None else weights
    translate = lexicon is not None and language != "en"
    if language == "en":
        q_tokens = content_tokens(question)
    else:
        q_tokens = set(anchor_tokens(question)) | (set(lexicon.terms(question, language)) if translate else set())
    quantity = _QUANTITY.search(question)
    amount = asked_amount(question)  # "¿Qué tasa ...?": a sentence that states a rate, not just any number
    wants_number = bool(quantity)
    question_numbers = set(re.findall(r"\d+", question))
    # "how many case studies ...": the answer sentence should count case studies, not attendees
    if quantity and translate:  # "Combien d'études de cas ..." -> studies, case
        focus = set(lexicon.map_words(question_words(question[quantity.end():], language)[:2]))
    else:
        focus = content_tokens(" ".join(question[quantity.end():].split()[:2])) if quantity else set()
    out: list[Sentence] = []
    # focus words the evidence never uses (another language) can't be required
    vocabulary = set().union(*(content_tokens(h.chunk.text) for h in hits)) if focus else set()
    for rank, hit in enumerate(hits):
        texts = hit.chunk.sentence_texts()
        scores = hit.sentence_scores if hit.sentence_scores is not None else np.zeros(len(texts))
        for i, text in enumerate(texts):
            if not is_answer_like(text):
                continue
            tokens = content_tokens(text)
            neighbours = [float(scores[j]) for j in (i - 1, i + 1) if 0 <= j < len(texts)]
            if amount is not None:
                typed = states_amount(amount, text)
            else:
                typed = wants_number and _holds_new_number(text, question_numbers) and (
                    not (focus & vocabulary) or bool(focus & tokens))
            features = {
                "similarity": float(scores[i]),
                "lexical": len(q_tokens & tokens) / len(q_tokens) if q_tokens else 0.0,
                "typed": float(typed),
                "neighbour": max(neighbours) if neighbours else float(scores[i]) - 1.0,
                "previous": float(scores[i - 1]) if i > 0 else float(scores[i]) - 1.0,
                "next": float(scores[i + 1]) if i + 1 < len(texts) else float(scores[i]) - 1.0,
                "first": float(i == 0),
                "rank": float(rank),
                "words": float(min(len(text.split()), 40)),
                "chunk": hit.score,
            }
            score = sum(weights[name] * value for name, value in features.items())
            vector = hit.sentence_vectors[i] if hit.sentence_vectors is not None else None
            out.append(Sentence(rank, hit, i, text, hit.chunk.sentence_pages[i], score, vector, typed, features))
    out.sort(key=lambda s: -s.score)
    return out


def _redundant(candidate: Sentence, chosen: list[Sentence], cos_limit: float = 0.93, jaccard_limit: float = 0.6) -> bool:
    tokens = content_tokens(candidate.text)
    for other in chosen:
        if other.hit.chunk.chunk_id == candidate.hit.chunk.chunk_id and other.index == candidate.index:
            return True
        if candidate.text == other.text:
            return True
        if candidate.vector is not None and other.vector is not None and float(candidate.vector @ other.vector) > cos_limit:
            return True
        other_tokens = content_tokens(other.text)
        if tokens and other_tokens and len(tokens & other_tokens) / len(tokens | other_tokens) > jaccard_limit:
            return True
    return False


def _reading_order(chosen: list[Sentence]) -> list[Sentence]:
    """Documents in order of their best sentence; within a document, reading order."""
    first_seen: dict[str, int] = {}
    for i, s in enumerate(chosen):
        first_seen.setdefault(s.hit.chunk.doc_id, i)
    return sorted(chosen, key=lambda s: (first_seen[s.hit.chunk.doc_id], s.hit.chunk.ord, s.index))


# Sentences about the document rather than its subject: "The purpose of this document is ...", "As such, the
# authors reviewed ...", "The following paragraphs give a brief account ...", "it guides users on how to
# follow the four steps". A briefing's bullets should carry the subject's points.
_ABOUT_THE_DOCUMENT = re.compile(
    r"\b(this|the present) (case study|study|report|note|summary note|paper|guide|document|methodological note|"
    r"publication)\b|\bthe following (paragraphs?|sections?|chapters?|pages?)\b|\bthe authors?\b|"
    r"\bwere interviewed\b|\bwe (interviewed|reviewed)\b|\bguides? users\b|\bprovides? a guide\b|"
    r"\bmore on this later\b",
    re.IGNORECASE,
)


def about_the_document(text: str) -> bool:
    return bool(_ABOUT_THE_DOCUMENT.search(text))


class ExtractiveAnswerer(Answerer):
    """Cited sentences chosen from the evidence; no generated text, so nothing can be invented."""

    name = "extractive"

    def __init__(self, max_sentences: int = 3, margin: float = 2.0, briefing_min: int = 3, briefing_max: int = 6,
                 lexicon: Lexicon | None = None):
        self.lexicon = lexicon  # the index's cross-lingual lexicon (Assistant passes the retriever's)
        self.max_sentences = max_sentences
        self.margin = margin  # how far (score units) below the best sentence others may be
        self.briefing_min = briefing_min
        self.briefing_max = briefing_max

    def answer(self, question, language, hits, mode="answer", history=None) -> Draft:
        candidates = candidate_sentences(question, language, hits, lexicon=self.lexicon)
        if not candidates:
            return Draft(cannot_answer(language), [], refused=True, generator=self.name,
                         notes=["no quotable sentence in the evidence"])
        items = labelled_items(candidates, stated_count(question)) if wants_list(question, mode) else []
        intro = None
        if items:
            # the best sentence that names two or more of the items ("The three steps are Current Gaps, ...")
            labels = [_label(s.text) for s in items]
            intro = next((s for s in candidates if s not in items and not _redundant(s, items)
                          and sum(label in s.text.lower() for label in labels) >= 2), None)
            ordered = ([intro] if intro else []) + items[: self.briefing_max + 2]  # the list, in the document's order
        else:
            chosen = self._briefing(candidates) if mode == "briefing" else self._answer(candidates)
            ordered = chosen if mode == "briefing" else _reading_order(self._with_context(chosen))
        citations = [citation_for(n, s) for n, s in enumerate(ordered, 1)]
        if mode == "briefing" or items:
            text = "\n".join(f"{'' if s is intro else '- '}{shown(s.text)} [{n}]" for n, s in enumerate(ordered, 1))
        else:
            text = " ".join(f"{shown(s.text)} [{n}]" for n, s in enumerate(ordered, 1))
        return Draft(text, citations, raw=text, generator=self.name)

    def _answer(self, candidates: list[Sentence]) -> list[Sentence]:
        best = candidates[0]
        chosen = [best]
        for s in candidates[1:]:
            if len(chosen) >= self.max_sentences or s.score < best.score - self.margin:
                break
            if not _redundant(s, chosen):
                chosen.append(s)
        # "How many ...?" wants a number: if no chosen sentence gives one, add the best that does
        # (similarity favours sentences that merely repeat the question's words).
        if any(s.typed for s in candidates) and not any(s.typed for s in chosen):
            typed = next(s for s in candidates if s.typed)
            if typed.score >= best.score - 3.6 and not _redundant(typed, chosen):
                chosen.append(typed)
        return chosen

    def _with_context(self, chosen: list[Sentence]) -> list[Sentence]:
        """Add the sentence before a chosen one that opens with a pronoun ("It", "This", ...) it depends on."""
        out = list(chosen)
        for s in chosen:
            if s.index > 0 and re.match(r"^(It|This|These|They|Its|Their|Such|He|She)\b", s.text):
                previous_text = s.hit.chunk.sentence_texts()[s.index - 1]
                prev = Sentence(s.hit_rank, s.hit, s.index - 1, previous_text,
                                s.hit.chunk.sentence_pages[s.index - 1], s.score, None)
                if is_answer_like(previous_text) and not _redundant(prev, out):
                    out.append(prev)
        return out

    def _briefing(self, candidates: list[Sentence]) -> list[Sentence]:
        """Maximal marginal relevance: relevant, and each bullet a point the others don't make. Sentences about
        the document itself ("The purpose of this document is ...", "the authors reviewed ...") are left out
        while at least `briefing_min` others remain."""
        on_subject = [s for s in candidates if not about_the_document(s.text)]
        if len(on_subject) >= self.briefing_min:  # the subject's points, not the report's outline
            candidates = on_subject
        best = candidates[0].score
        pool = [s for s in candidates if s.score >= best - 3.0]
        chosen: list[Sentence] = []
        while pool and len(chosen) < self.briefing_max:
            def mmr(s: Sentence) -> float:
                if not chosen or s.vector is None:
                    return s.score
                similarity = max(float(s.vector @ c.vector) for c in chosen if c.vector is not None)
                return s.score - 8.0 * max(similarity - 0.80, 0.0)

            pick = max(pool, key=mmr)
            pool.remove(pick)
            if not _redundant(pick, chosen, cos_limit=0.90, jaccard_limit=0.5):
                chosen.append(pick)
        if len(chosen) < self.briefing_min:  # widen the pool rather than give fewer than 3 points
            for s in candidates:
                if len(chosen) >= self.briefing_min:
                    break
                if s not in chosen and not _redundant(s, chosen, cos_limit=0.90, jaccard_limit=0.5):
                    chosen.append(s)
        return chosen
