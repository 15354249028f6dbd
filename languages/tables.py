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
