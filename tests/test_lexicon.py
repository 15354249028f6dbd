"""The cross-lingual lexicon: question words put in the corpus's words, stored with the index, reused on rebuild."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pytest

from assistant.answer import candidate_sentences
from assistant.retrieval import Retriever
from assistant.settings import Settings
from indexer.build import build_index
from indexer.embedders import Embedder
from indexer.lexicon import LEXICON, Lexicon, lexicon_words, question_words
from indexer.store import IndexReader, current_version
from tests.conftest import HashEmbedder, index_notes

# Four corpus words on four axes; the "foreign" words sit near one of them, "xyz" near none.
VOCAB = {"studies": 0, "case": 1, "which": 2, "wells": 3}


class TableEmbedder(Embedder):
    name = "fake:table"
    dim = 4

    def __init__(self):
        self.batch_size = 32
        self.embedded: list[str] = []

    def embed_batch(self, texts: Sequence[str], mode: str) -> np.ndarray:
        self.embedded += list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        near = {"études": "studies", "cas": "case", "que": "which", "puits": "wells", "কূপ": "wells"}
        for i, text in enumerate(texts):
            if text in VOCAB:
                out[i, VOCAB[text]] = 1.0
            elif text in near:
                out[i, VOCAB[near[text]]] = 1.0
                out[i] += 0.2
            else:
                out[i] = 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _lexicon(embedder: TableEmbedder) -> Lexicon:
    words = list(VOCAB)
    return Lexicon(words, embedder.embed(words, "passage"), embedder)


def test_foreign_words_take_their_nearest_corpus_word():
    embedder = TableEmbedder()
    lexicon = _lexicon(embedder)
    embedder.embedded.clear()
    # "de" is a French function word (never embedded), "que" maps to a function word, "xyz" to nothing clearly
    assert lexicon.terms("Études de cas, que xyz ?", "fr") == ["studies", "case"]
    assert "de" not in embedder.embedded and "que" not in embedder.embedded
    target, margin = lexicon.translate(["xyz"])["xyz"]
    assert margin < lexicon.min_margin  # as close to every word as to any: no translation
    # a word the corpus uses is itself; words seen before come from the cache, not the encoder
    embedder.embedded.clear()
    assert lexicon.translate(["wells", "études"]) == {"wells": ("wells", 1.0), "études": lexicon.translate(["études"])["études"]}
    assert embedder.embedded == []


def test_lexicon_keeps_the_most_used_words_and_no_numbers_or_chinese_character_pairs():
    vocab = {"wells": 0, "2019": 1, "一带": 2, "a": 3, "pumps": 4, "village": 5}
    used_by = np.array([3, 1, 1, 5, 2, 1])  # chunks that use each term
    assert lexicon_words(vocab, used_by) == [(0, "wells"), (4, "pumps"), (5, "village")]
    assert lexicon_words(vocab, used_by, max_words=2) == [(0, "wells"), (4, "pumps")]


def test_question_words_are_kept_as_written_and_chinese_is_cut():
    # accents kept for the encoder ("études"; folded, "etudes" reads as "et"), function words left out
    assert question_words("¿Cuántos EXPERTOS estudiaron en Bogotá en 2020?", "es") == ["expertos", "estudiaron", "bogotá"]
    assert "培训" in question_words("中心每年举办多少期培训课程?", "zh")
    assert question_words("كم عدد دراسات الحالة؟", "ar")[-1] == "الحالة"  # the ta marbuta stays


@pytest.mark.parametrize("question, language", [
    ("Combien de puits dans les districts ?", "fr"),
    ("জেলাগুলোতে কয়টি কূপ খনন করা হয়েছে?", "bn"),  # "how many" as কয়টি, য় decomposed (NFC)...
    ("জেলাগুলোতে ক\u09dfটি কূপ খনন করা হয়েছে?", "bn"),  # ... and precomposed
])
def test_count_question_in_another_language_prefers_the_sentence_that_counts_it(tmp_path, question, language):
    """"How many wells ...": the answer should count wells, not just hold some number."""
    settings = index_notes(tmp_path / "notes", {"w.md": "# Water\n\nThe 2019 plan covered the northern districts "
                                                "of the region.\n\nEngineers dug 40 wells in those districts.\n"})
    retriever = Retriever.load(settings, embedder=HashEmbedder())
    hits = retriever.search("wells districts 2019", 3)
    embedder = TableEmbedder()
    lexicon = Lexicon(["wells", "studies", "case", "which"], embedder.embed(["wells", "studies", "case", "which"],
                                                                        "passage"), embedder)
    def by_text(candidates):
        return {("plan" if "2019 plan" in s.text else "wells"): s for s in candidates}

    without = by_text(candidate_sentences(question, language, hits))
    assert without["plan"].typed  # any new number passed for the count
    with_lexicon = candidate_sentences(question, language, hits, lexicon=lexicon)
    chosen = by_text(with_lexicon)
    assert chosen["wells"].typed and not chosen["plan"].typed  # the count must be of wells
    assert chosen["wells"].features["lexical"] > without["wells"].features["lexical"]
    assert with_lexicon[0] is chosen["wells"]


def test_index_stores_the_lexicon_and_a_rebuild_embeds_only_new_words(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.md").write_text("# Wells\n\nVillage committees maintain the pumps.\n", "utf-8")
    settings = Settings()
    first = build_index([folder], settings.build_settings(), embedder=HashEmbedder(), second_embedder=None)
    lexicon = Retriever.load(settings, embedder=HashEmbedder()).lexicon
    assert {"wells", "village", "committees", "pumps"} <= set(lexicon.words)
    assert first.embedded_words == len(lexicon.words)

    (folder / "b.md").write_text("# Pumps\n\nVillage committees repair broken pumps quickly.\n", "utf-8")
    second = build_index([folder], settings.build_settings(), embedder=HashEmbedder(), second_embedder=None)
    assert second.embedded_words == 3  # repair, broken, quickly
    rebuilt = Retriever.load(settings, embedder=HashEmbedder()).lexicon
    assert {"repair", "broken", "quickly"} <= set(rebuilt.words)
    assert np.allclose(rebuilt.vectors[rebuilt.index["pumps"]], lexicon.vectors[lexicon.index["pumps"]], atol=1e-3)


def test_an_index_from_before_the_lexicon_gets_one_on_the_next_run(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.md").write_text("# Wells\n\nVillage committees maintain the pumps.\n", "utf-8")
    settings = Settings()
    build_index([folder], settings.build_settings(), embedder=HashEmbedder(), second_embedder=None)
    version = current_version(settings.index_dir)
    for name in ("lexicon.npy", "lexicon_terms.npy"):
        (settings.index_dir / version / name).unlink()
    manifest = json.loads((settings.index_dir / version / "manifest.json").read_text("utf-8"))
    del manifest["lexicon"]  # an index from before the lexicon does not list one (one that does needs its arrays)
    (settings.index_dir / version / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    assert Retriever.load(settings, embedder=HashEmbedder()).lexicon is None  # old indexes still load
    report = build_index([folder], settings.build_settings(), embedder=HashEmbedder(), second_embedder=None)
    assert report.written and report.embedded_chunks == 0
    assert IndexReader.open(settings.index_dir).has_array(LEXICON)


def test_lexicon_can_be_switched_off(tmp_path):
    settings = index_notes(tmp_path / "notes", {"a.md": "# Wells\n\nVillage committees maintain the pumps.\n"})
    off = Settings(retrieval={"lexicon": False})
    assert Retriever.load(off, embedder=HashEmbedder()).lexicon is None
    assert Retriever.load(settings, embedder=HashEmbedder()).lexicon is not None
