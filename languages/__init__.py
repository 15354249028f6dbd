"""What povqa knows about languages and scripts, for the indexer and the assistant alike.

`languages.scripts` (which characters are CJK, which script names which language), `languages.detect`
(the one language detector, for questions and documents) and `languages.tables` (per-language data:
language lists, aliases, cue words). The bottom layer: it imports nothing else of povqa.
"""
