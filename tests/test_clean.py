"""Pure text-cleaning functions (indexer.clean, indexer.repeats)."""

from __future__ import annotations

from indexer import clean, repeats


def test_ligatures_are_expanded():
    assert clean.normalize_unicode("the \ufb01rst e\ufb00ort, \ufb02agship, o\ufb03ce, ba\ufb04e") == (
        "the first effort, flagship, office, baffle"
    )


def test_odd_spaces_soft_hyphens_and_zero_width_characters():
    assert clean.clean_text("poverty\u00a0line\u2009and  re\u00adduction\u200b of\ufeff  needs") == (
        "poverty line and reduction of needs"
    )


def test_cjk_text_survives_unchanged():
    s = "中国国际扶贫中心，成立于2005年。"
    assert clean.normalize_unicode(s) == s
    assert clean.clean_text(s) == s
    # full-width punctuation is not rewritten (NFKC would turn '，' into ',')
    assert "，" in clean.clean_text("扶贫，合作") and "。" in clean.clean_text("完成。")


def test_kangxi_radicals_become_ideographs():
    # PDF fonts often emit Kangxi radical look-alikes (U+2F3F) instead of 手 (U+624B)
    assert clean.normalize_unicode("\u2f3f机") == "手机"


def test_hyphenated_line_break_is_joined():
    assert clean.join_lines(["the reduction of pov-", "erty in rural areas"]) == "the reduction of poverty in rural areas"


def test_south_south_keeps_its_hyphen_across_a_line_break():
    assert clean.join_lines(["holding a South-", "South Learning Conference"]) == "holding a South-South Learning Conference"


def test_compound_seen_with_hyphen_elsewhere_keeps_it():
    vocab = clean.vocabulary(["a custom-built model was used"])
    assert clean.join_lines(["uses a custom-", "built model"], vocab) == "uses a custom-built model"
    assert clean.join_lines(["uses a struc-", "tured model"], vocab) == "uses a structured model"


def test_cjk_lines_join_without_space():
    assert clean.join_lines(["中国国际扶贫", "中心"]) == "中国国际扶贫中心"
    assert clean.join_lines(["poverty", "reduction"]) == "poverty reduction"


def test_page_number_lines():
    for s in ["3", "- 3 -", "Page 3 of 13", "page 12", "[4]", "iv", "3 / 13"]:
        assert clean.is_page_number_line(s), s
    for s in ["2011.12-Working Paper", "1700 attendees", "Background", "3. Champions"]:
        assert not clean.is_page_number_line(s), s


def test_running_header_found_and_removed():
    topics = ["poverty", "training", "research", "exchange", "cooperation", "funding", "evaluation"]
    pages = [
        ["IPRCC Working Paper 2011.12", str(i), f"Body text about {topic}.", f"More on {topic} here."]
        for i, topic in enumerate(topics, start=1)
    ]
    running = clean.find_running_lines(pages)
    assert running == {clean.line_key("IPRCC Working Paper 2011.12")}
    stripped = clean.strip_running_lines(pages[2], running)
    assert stripped == ["Body text about research.", "More on research here."]


def test_running_header_split_over_two_lines_is_removed():
    pages = [["VERSION 1.4 | INTEGRATED NOTE", str(i), f"Body {w}."] for i, w in enumerate("abcdef", start=2)]
    running = clean.find_running_lines(pages)
    first = ["VERSION 1.4 |", "INTEGRATED NOTE", "1", "Title of the note", "Body."]
    assert clean.strip_running_lines(first, running) == ["Title of the note", "Body."]


def test_toc_lines():
    assert clean.is_toc_line("Introduction ........................ 3")
    assert clean.is_toc_line("Section 2: SDG trends at the target level ......... 10")
    assert not clean.is_toc_line("The growth was 3.5 per cent in 2010.")
    assert clean.strip_toc_leaders("Overview ............ 3") == "Overview"


def test_headings():
    for s in ["Background", "Challenges Faced", "2.1 Data Sources", "INTRODUCTION", "II. Changes and opportunities",
              "Conclusion and Recommendations", "2. Pressing development challenges in poverty reduction"]:
        assert clean.looks_like_heading(s), s
    for s in ["The mission of IPRCC is to promote cooperation.", "organized to craft a formal proposal",
              "Research: Creating a new world for", "A year ahead of the important 2004 Shanghai Conference on Scaling"]:
        assert not clean.looks_like_heading(s), s


def test_punctuation_spans():
    text = "First sentence here. Second one! 中国。Third?"
    spans = repeats.punctuation_spans(text)
    assert [text[a:b] for a, b in spans] == ["First sentence here.", "Second one!", "中国。", "Third?"]


def test_repeated_sentence_is_dropped_once():
    quote = "While the influence of politics in the development field is always notable, it is new."
    paras = [f"Body text comes first. {quote} More body text follows here.", quote, "Unrelated paragraph."]
    out = repeats.drop_repeated_sentences(paras)
    assert sum(p.count(quote) for p in out) == 1
    assert out[0] == paras[0] and out[1] == "" and out[2] == "Unrelated paragraph."


def test_pull_quote_glued_to_body_is_cut():
    quote = "China also needs to take the initiative in defining what multilateralism means for the country."
    paras = [
        f"High politics is increasingly affecting {quote} countries' relations at other levels.",
        f"There is much uncertainty about the new order. {quote} The pandemic placed it in focus.",
    ]
    out = repeats.drop_repeated_sentences(paras)
    assert out[0] == "High politics is increasingly affecting countries' relations at other levels."
    assert out[1] == paras[1]


def test_short_list_items_may_repeat():
    item = "For Review (for scores of -0.5 to 0.5 (0.5 included))"
    assert repeats.drop_repeated_sentences([item, item]) == [item, item]


def test_contained_paragraph_is_a_pull_quote():
    body = ("Peace is a necessary precondition for achieving the SDGs. China can make a meaningful contribution "
            "to world peace. This is in the interest of both China and countries seeking to develop.")
    quote = "Peace is a necessary precondition for achieving the SDGs. China can make a meaningful contribution"
    assert repeats.contained_paragraphs([(7, body), (7, quote), (20, "Other text")]) == {1}
    assert repeats.contained_paragraphs([(1, body), (9, quote)]) == set()  # too far apart


def test_pull_quote_check_is_linear_in_a_long_note():
    """A note is one long page: comparing every paragraph with every other took ~4 minutes for 5 MB."""
    import time

    from indexer.repeats import contained_paragraphs

    body = [(1, f"Paragraph {i} says that district {i} built {i % 7} wells and {i * 3} latrines for its villages.")
            for i in range(20_000)]
    quote = (1, "district 10005 built 2 wells and 30015 latrines for its villages")
    paragraphs = body[:10_010] + [quote] + body[10_010:]
    started = time.perf_counter()
    assert contained_paragraphs(paragraphs) == {10_010}
    assert time.perf_counter() - started < 20
