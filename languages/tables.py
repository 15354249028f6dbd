"""Per-language tables: data a translator can extend without reading the algorithms that use them.

Each table says which code reads it. Language codes are ISO 639-1, as `languages.detect.detect_language`
returns them.
"""

from __future__ import annotations

# --------------------------------------------------------------------------- language codes
# Read by languages/detect.py (LATIN_LANGUAGES, LANGUAGE_ALIASES), indexer/embedders.py and
# assistant/scoring.py (USE_LANGUAGES).

#: Latin-script languages a question is told apart between (py3langid restricted to these): the languages a
#: training centre's trainees write in. Order as given to py3langid.
LATIN_LANGUAGES = ["en", "fr", "es", "pt", "sw", "de", "it", "nl", "id", "tr", "pl", "vi", "ro"]

#: Languages the multilingual Universal Sentence Encoder v3 was trained on. Not Hindi, Bengali, Swahili,
#: Vietnamese, Greek or Romanian.
USE_LANGUAGES = frozenset("ar zh nl en fr de it ja ko pl pt es th tr ru".split())

#: Varieties py3langid reports, folded into the language povqa keeps tables for.
LANGUAGE_ALIASES = {"wuu": "zh", "yue": "zh", "arz": "ar", "ary": "ar", "apc": "ar", "acm": "ar"}


# --------------------------------------------------------------------------- question cues
# Read by assistant/cues.py (the cue tables), assistant/answer.py (CANNOT_ANSWER), assistant/llm.py
# (LANGUAGE_NAMES) and assistant/refusal.py (REFERENCE_LANGUAGES).
# What the assistant looks for in a question (and in the documents' sentences) to decide what kind of answer is
# wanted. `assistant/cues.py` builds the patterns from these tables; nothing else needs changing to add a language.
#
# Entries are regular-expression fragments, matched without regard to case: `[ée]` is either letter, `s?` an
# optional s, `(a|b)` either word, `(?:a|b)` the same without numbering the group. Tables come in two kinds:
#  - `..._WORDS`: whole words or phrases. For most languages a match must start and end at a word boundary
#    ("when" does not match "whenever"); languages in `JOINED_WORDS` follow their own rule (see there).
#  - `..._CUES`: found anywhere, even inside a longer word: for scripts written without spaces (Chinese) and for
#    cues that are safe as parts of words.

#: What the assistant says when the documents do not answer, per question language (English for the others).
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

#: The language's name as an LLM is told to answer in it ("Answer in French").
LANGUAGE_NAMES = {
    "en": "English", "zh": "Chinese (简体中文)", "fr": "French", "es": "Spanish", "ar": "Arabic",
    "pt": "Portuguese", "sw": "Swahili", "bn": "Bengali", "de": "German", "hi": "Hindi", "ru": "Russian",
}

#: Languages whose cue words are matched by the rules of their script rather than at word boundaries: a cue word
#: matches when no letter of the script (`letters`, a character range) comes right before it, optionally after
#: one of `prefixes`, written joined to the word. Arabic joins the article and short words to the next word
#: ("الميزانية" = the budget, "وبالنسبة"; "بالنسبة" = "with regard to" must not read as "rate"); Bengali adds
#: suffixes ("হারের" = of the rate), which the match allows after the cue.
JOINED_WORDS = {
    "ar": {"letters": r"\u0600-\u06ff", "prefixes": ["ال", "و", "ب", "ل", "لل", "وال"]},
    "bn": {"letters": r"\u0980-\u09ff", "prefixes": []},
}

#: "How many / how much / how long / when / which year": the question asks for a quantity or a date, so the
#: answer sentence should hold a number. The words right after the cue say what is counted ("how many case
#: studies" -> case studies), so a cue should end where the counted thing begins.
QUANTITY_WORDS = {
    "en": ["how (many|much|long|old|often)", "when", "what year"],
    "fr": ["combien", "quand", "quelle ann[ée]e"],
    "es": ["cu[aá]nt[oa]s?", "cu[aá]ndo", "qu[eé] a[ñn]o"],
    "pt": ["quant[oa]s?", "quando", "que ano"],
    "sw": ["ngapi", "lini", "kiasi gani", "mwaka gani"],
    "de": ["wie viele?", "wann", "welche[ms]? jahr"],
}
QUANTITY_CUES = {
    "zh": ["多少", "几", "何时", "什么时候", "哪一年"],
    "ar": ["كم", "متى", "أي (?:عام|سنة)"],
    # "how many" is কয়টি / কয়জন, with য় written as one character (U+09DF) or as two (U+09AF U+09BC)
    "bn": ["কত", r"ক(?:\u09af\u09bc|\u09df)(?:টি|জন)", "কবে", "কোন সাল"],
    "hi": ["कितने", "कब"],
}

#: The question asks for an amount of money ("What was the budget ...?", "¿Qué salario ...?"): a passage that
#: states no sum of money can't answer it.
ASKS_MONEY_WORDS = {
    "en": ["budgets?", "salary", "salaries", "wages?", "price", "dollars?", "usd", "how much (?:money|funding)"],
    "fr": ["salaire", "co[uû]t", "prix"],
    "es": ["presupuesto", "salario", "sueldo", "costo", "coste", "precio", "d[oó]lares"],
    "pt": ["or[cç]amento", "sal[aá]rio", "custo", "pre[cç]o"],
    "sw": ["bajeti", "mshahara", "gharama", "dola"],
    "ar": ["ميزانية", "راتب", "رواتب", "أجر", "تكلفة", "سعر", "دولار"],
    "bn": ["বাজেট", "বেতন", "খরচ", "দাম", "ডলার"],
}
ASKS_MONEY_CUES = {
    "en": [r"US\$"],
    "zh": ["预算", "工资", "薪", "费用", "成本", "美元", "多少钱", "价格"],
}

#: The question asks for a rate or a share ("What interest rate ...?", "Quel taux ...", "হার"): a passage that
#: states no percentage or share can't answer it.
ASKS_RATE_WORDS = {
    "en": ["rates?", "percentage", "percent", "share of", "interest"],
    "fr": ["taux", "pourcentage"],
    "es": ["tasa", "porcentaje"],
    "pt": ["taxa", "percentagem", "porcentagem", "juros"],
    "sw": ["asilimia", "riba"],
    "ar": ["نسبة", "معدل", "فائدة"],
    "bn": ["হার", "শতাংশ", "সুদ"],
}
ASKS_RATE_CUES = {
    "zh": ["(?<![效频])率", "比例", "百分"],  # 率 but not 效率 (efficiency) or 频率 (frequency)
}

#: How a passage (in the documents' language) states a sum of money ("US$ 2 million", "500 yuan") ...
STATES_MONEY_WORDS = {
    "en": ["USD", "RMB", "CNY", "EUR", "dollars?", "yuan", "renminbi", "euros?", "francs?", "shillings?", "taka",
           "rupees?"],
}
STATES_MONEY_CUES = {
    "en": [r"US\$", r"\$", "€", "£", "¥"],
}
#: ... or a rate or share ("85 percent", "33.3%", "fell by half", "one in five").
STATES_RATE_WORDS = {
    "en": [r"per\s?cent(age)?", "percentage points?", "by half", "halved", "(a|one|two) thirds?", "a quarter",
           r"one in (two|three|four|five|six|seven|eight|nine|ten|\d+)"],
}
STATES_RATE_CUES = {
    "en": [r"\d\s*%"],
}
#: Lowercase strings one of which every match of the tables above contains. They are checked before the
#: patterns, which are slow on long passages; a word added above needs one of its strings here, or it is
#: never looked for.
STATES_QUICK = {
    "money": ["$", "€", "£", "¥", "usd", "rmb", "cny", "eur", "dollar", "yuan", "renminbi", "franc", "shilling",
              "taka", "rupee"],
    "rate": ["%", "per", "half", "third", "quarter", "one in "],
}

#: Number words of the documents' language: a sentence holding one of them (or a digit) states a quantity.
NUMBER_WORDS = {
    "en": ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "hundred", "thousand",
           "million", "billion"],
}

#: "What are the four traps ...?": the answer is a list, not one sentence.
LIST_QUESTION_WORDS = {
    "en": ["what are the", "which are the", "list the", "name the"],
    "fr": ["quels sont", "quelles sont"],
    "es": ["cu[aá]les son"],
    "pt": ["quais s[aã]o"],
    "sw": ["ni (zipi|nini|yapi)"],
    "de": ["welche sind"],
}
LIST_QUESTION_CUES = {
    "zh": ["哪些", "哪几", "有什么"],
    "ar": ["ما هي", "ما هى"],
    "bn": ["কী কী", "কোন কোন", "কোনগুলো"],
}

#: "the four traps": the count of items a question states, 2 to 10, as a word on its own (`COUNT_SUFFIXES` may
#: follow it). Each number may have several words (feminine, class prefixes: Swahili "mbili", "miwili").
COUNT_WORDS = {
    "en": {2: ["two"], 3: ["three"], 4: ["four"], 5: ["five"], 6: ["six"], 7: ["seven"], 8: ["eight"],
           9: ["nine"], 10: ["ten"]},
    "fr": {2: ["deux"], 3: ["trois"], 4: ["quatre"], 5: ["cinq"], 6: ["six"], 7: ["sept"], 8: ["huit"],
           9: ["neuf"], 10: ["dix"]},
    "es": {2: ["dos"], 3: ["tres"], 4: ["cuatro"], 5: ["cinco"], 6: ["seis"], 7: ["siete"], 8: ["ocho"],
           9: ["nueve"], 10: ["diez"]},
    "pt": {2: ["dois", "duas"], 3: ["três"], 4: ["quatro"], 5: ["cinco"], 6: ["seis"], 7: ["sete"], 8: ["oito"],
           9: ["nove"], 10: ["dez"]},
    "sw": {2: ["mbili", "miwili"], 3: ["tatu", "mitatu"], 4: ["nne", "minne"], 5: ["tano", "mitano"], 6: ["sita"],
           7: ["saba"], 8: ["nane"], 9: ["tisa"], 10: ["kumi"]},
    "de": {2: ["zwei"], 3: ["drei"], 4: ["vier"], 5: ["fünf"], 6: ["sechs"], 7: ["sieben"], 8: ["acht"],
           9: ["neun"], 10: ["zehn"]},
    "bn": {2: ["দুই", "দুটি"], 3: ["তিন"], 4: ["চার"], 5: ["পাঁচ"], 6: ["ছয়"], 7: ["সাত"], 8: ["আট"],
           9: ["নয়"], 10: ["দশ"]},
}
#: Classifiers written joined after a count word (Bengali "চারটি" = four, counted things).
COUNT_SUFFIXES = {
    "bn": ["টি", "টা"],
}
#: Numerals followed by a measure word ("四个", "三大", "五项"): languages that count that way.
COUNT_NUMERALS = {
    "zh": {"两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10},
}
COUNT_MEASURE_WORDS = {
    "zh": ["个", "大", "项", "种", "类", "点", "条", "步", "部分", "方面"],
}
#: Count words found at the start of a word, whatever ending they take, after an optional article (Arabic
#: "أربعة", "الأربع"): the stem and its number, and the articles.
COUNT_STEMS = {
    "ar": {"ثلاث": 3, "أربع": 4, "خمس": 5, "سبع": 7, "ثماني": 8, "تسع": 9},
}
COUNT_ARTICLES = {
    "ar": ["ال"],
}

#: How a follow-up question opens ("And what about Tanzania?", "Et pour le Kenya ?"): with a short (elliptic)
#: question, it only makes sense with the previous turn. Matched at the start of the question, as whole words.
FOLLOW_UP_WORDS = {
    "en": ["and", "also", "what about", "how about", "and what"],
    "fr": ["et", "et pour", "qu'en est-il"],
    "es": ["y", "y qué", "¿y"],
    "pt": ["e", "e quanto", "e sobre"],
    "sw": ["na", "vipi kuhusu"],
    "de": ["und", "was ist mit"],
    "ar": ["و", "ماذا عن"],
    "zh": ["还有", "那", "那么"],
    "hi": ["और"],
    "bn": ["আর", "এবং"],
}
#: ... and words written joined to the next one ("وكم عدد ...؟", Arabic "and" + "how many").
FOLLOW_UP_JOINED = {
    "ar": ["و"],
}

#: Sentences about the document rather than its subject ("The purpose of this document is ...", "the authors
#: reviewed ...", "The following paragraphs give ..."): a briefing leaves them out. In the documents' language.
ABOUT_THE_DOCUMENT_WORDS = {
    "en": ["(this|the present) (case study|study|report|note|summary note|paper|guide|document|methodological note|"
           "publication)", "the following (paragraphs?|sections?|chapters?|pages?)", "the authors?",
           "were interviewed", "we (interviewed|reviewed)", "guides? users", "provides? a guide", "more on this later"],
}

#: Words that open a sentence which depends on the one before ("It ...", "This ...", "They ..."): the answer
#: quotes that sentence too. Matched with their case, at the start of the sentence. In the documents' language.
OPENING_REFERENCES = {
    "en": ["It", "This", "These", "They", "Its", "Their", "Such", "He", "She"],
}

#: A sentence that announces what the next sentences hold ("Some of these challenges include:", "... the
#: following steps", "... as follows"): the answer quotes the run of sentences after it. A sentence ending with a
#: colon, or followed by a list item, counts in any language. In the documents' language; matched without case.
INTRODUCES_WORDS = {
    "en": ["includ(e|es|ing)", "the following", "as follows", "such as", "namely", "for example", "for instance"],
}
#: Words that open a sentence completing the one before ("For example, ...", "This is because ..."): quoted with it.
COMPLETES_WORDS = {
    "en": ["for example", "for instance", "e\\.g", "in particular", "this (is|was) because", "because",
           "as a result", "therefore", "thus", "hence", "first(ly)?", "second(ly)?", "specifically"],
}

#: "Why ...?", "How ...?" (not "how many"): the answer is a reason or a way, which the sentence after the one that
#: best matches the question often completes.
WHY_HOW_WORDS = {
    "en": ["why", "how(?! (many|much|long|old|often))", "in what way", "for what reason"],
    "fr": ["pourquoi", "comment"],
    "es": ["por qu[eé]", "c[oó]mo(?! (muchos?|muchas?))"],
    "pt": ["por qu[eê]", "porque", "como"],
    "sw": ["kwa nini", "jinsi", "vipi", "kwa namna gani"],
    "de": ["warum", "wieso", "weshalb", "wie(?! viele?)"],
}
WHY_HOW_CUES = {
    "zh": ["为什么", "为何", "如何", "怎样", "怎么"],
    "ar": ["لماذا", "كيف"],
    "bn": ["কেন", "কীভাবে", "কিভাবে"],
    "hi": ["क्यों", "कैसे"],
}

#: Question marks: a sentence ending with one is a question, not an answer (Latin, full-width, Arabic).
QUESTION_MARKS = {
    "en": "?",
    "zh": "？",
    "ar": "؟",
}

#: The languages whose reference cosines (assistant/data/language_means.npz) stand in, averaged, for a language
#: that has none (the refusal model's first feature).
REFERENCE_LANGUAGES = ["en", "es", "fr", "pt", "zh", "ar", "sw", "bn"]
