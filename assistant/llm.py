"""LLM answering: any LangChain chat model writes the answer, citing evidence by key; the keys are checked.

Built in: an OpenAI-compatible server by base URL and model name (llama.cpp server,
Ollama, vLLM, hosted APIs) and a local GGUF file through llama-cpp-python. Each
retrieved chunk gets a short key (`e1a2b3c4`); after generation every `[key]` that
did not come from retrieval is deleted, each valid key becomes a numbered citation
whose quote is the chunk's sentence closest to the cited sentence, and an answer with
no valid citation is not presented as grounded (it becomes a refusal).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from assistant.answer import Answerer, Draft, Mode, cannot_answer
from assistant.prompts import load_prompt
from assistant.question import Question, content_tokens, question_text
from assistant.retrieval import Hit
from assistant.settings import Settings
from assistant.types import Citation
from languages.tables import LANGUAGE_NAMES

_KEY = re.compile(r"\[([^\[\]]{1,40})\]")


class LLMError(RuntimeError):
    pass


def evidence_key(hit: Hit) -> str:
    return "e" + hit.chunk.chunk_id[:7]


def render_evidence(hits: list[Hit]) -> str:
    parts = []
    for hit in hits:
        # Angle brackets in document text could fake our delimiters: neutralise them.
        text = hit.chunk.text.replace("<", "‹").replace(">", "›")
        parts.append(f'<doc key="{evidence_key(hit)}" title="{hit.document.title}" page="{hit.page}">\n{text}\n</doc>')
    return "\n".join(parts)


def render_history(history: list[dict] | None, turns: int = 4) -> str:
    if not history:
        return ""
    lines = [f"{t.get('role', 'user')}: {str(t.get('content', ''))[:1000]}" for t in history[-turns:]]
    return "Conversation so far:\n" + "\n".join(lines) + "\n"


class LLMAnswerer(Answerer):
    name = "llm"

    def __init__(self, chat_model, label: str = "llm", max_sentences: int = 4):
        self.chat_model = chat_model
        self.name = label
        self.max_sentences = max_sentences

    @classmethod
    def from_settings(cls, settings: Settings) -> "LLMAnswerer":
        llm = settings.llm
        if llm.base_url:
            try:
                from langchain_openai import ChatOpenAI
            except ImportError as exc:
                raise LLMError("POVQA_ANSWERER=llm needs langchain-openai: pip install 'povqa[llm]'") from exc
            key = llm.api_key.get_secret_value() if llm.api_key else "not-needed"
            model = ChatOpenAI(base_url=llm.base_url, model=llm.model, api_key=key, temperature=llm.temperature,
                               max_tokens=llm.max_tokens, timeout=llm.timeout_s, max_retries=1)
            return cls(model, f"llm:{llm.model}@{llm.base_url}")
        if llm.gguf_path:
            if not llm.gguf_path.exists():
                raise LLMError(f"POVQA_LLM__GGUF_PATH={llm.gguf_path}: no such file")
            try:
                from langchain_community.chat_models import ChatLlamaCpp
            except ImportError as exc:
                raise LLMError("a GGUF model needs llama-cpp-python: pip install llama-cpp-python") from exc
            model = ChatLlamaCpp(model_path=str(llm.gguf_path), temperature=llm.temperature,
                                 max_tokens=llm.max_tokens, n_ctx=4096, verbose=False)
            return cls(model, f"llm:gguf:{llm.gguf_path.name}")
        raise LLMError("POVQA_ANSWERER=llm needs POVQA_LLM__BASE_URL (an OpenAI-compatible server) "
                       "or POVQA_LLM__GGUF_PATH (a local GGUF file)")

    def messages(self, question: str | Question, language: str, hits: list[Hit], mode: Mode,
                 history: list[dict] | None):
        prompt = load_prompt("briefing" if mode == "briefing" else "qa")
        values = dict(
            question=question_text(question),
            evidence=render_evidence(hits),
            history=render_history(history),
            language_name=LANGUAGE_NAMES.get(language, language),
            cannot_answer=cannot_answer(language),
            example_key=evidence_key(hits[0]) if hits else "e0000000",
        )
        if mode != "briefing":
            values["max_sentences"] = self.max_sentences
        return [("human", prompt.render(**values))]

    def answer(self, question, language, hits, mode="answer", history=None) -> Draft:
        try:
            reply = self.chat_model.invoke(self.messages(question, language, hits, mode, history))
        except Exception as exc:
            raise LLMError(f"the LLM backend failed: {exc}") from exc
        return self.postprocess(str(reply.content), language, hits)

    def stream(self, question, language, hits, mode="answer", history=None) -> Iterator[str]:
        """Raw text deltas as the model produces them (citations are fixed up by `postprocess` afterwards)."""
        for chunk in self.chat_model.stream(self.messages(question, language, hits, mode, history)):
            if chunk.content:
                yield str(chunk.content)

    def postprocess(self, raw: str, language: str, hits: list[Hit]) -> Draft:
        """Map evidence keys to numbered citations; delete keys that match no retrieved evidence."""
        by_key = {evidence_key(h): h for h in hits}
        numbers: dict[tuple[str, int], int] = {}
        citations: list[Citation] = []
        removed: list[str] = []
        text = raw.strip()
        if not text or text.startswith(cannot_answer(language)):
            return Draft(cannot_answer(language), [], refused=True, raw=raw, generator=self.name)

        pieces = []
        position = 0
        for match in _KEY.finditer(text):
            keys = [k.strip() for k in match.group(1).split(",")]
            sentence = text[position : match.start()]
            pieces.append(sentence)
            position = match.end()
            marks = []
            for key in keys:
                hit = by_key.get(key)
                if hit is None:
                    removed.append(key)
                    continue
                index = _closest_sentence(hit, sentence)
                ref = (key, index)
                if ref not in numbers:
                    numbers[ref] = len(citations) + 1
                    a, b = hit.chunk.sentences[index]
                    citations.append(Citation(
                        n=numbers[ref], doc_id=hit.chunk.doc_id, title=hit.document.title, source=hit.document.source,
                        page=hit.chunk.sentence_pages[index], section=hit.chunk.section, quote=hit.chunk.text[a:b],
                        location=hit.document.location(hit.chunk.sentence_pages[index]),
                    ))
                marks.append(f"[{numbers[ref]}]")
            pieces.append("".join(marks))
        pieces.append(text[position:])
        answer = re.sub(r"[ \t]+\n", "\n", re.sub(r"[ \t]{2,}", " ", "".join(pieces))).strip()
        notes = [f"removed citation keys not in the evidence: {sorted(set(removed))}"] if removed else []
        if not citations:
            notes.append("the model's answer cited no retrieved evidence: not presented as grounded")
            return Draft(cannot_answer(language), [], refused=True, raw=raw, generator=self.name, notes=notes)
        return Draft(answer, citations, raw=raw, generator=self.name, notes=notes)


def _closest_sentence(hit: Hit, sentence: str) -> int:
    """The chunk sentence sharing most content words with the model's sentence (the one to quote)."""
    words = content_tokens(sentence)
    best, best_overlap = hit.best_sentence, -1.0
    for i, text in enumerate(hit.chunk.sentence_texts()):
        overlap = len(words & content_tokens(text)) / (len(content_tokens(text)) ** 0.5 + 1)
        if overlap > best_overlap:
            best, best_overlap = i, overlap
    return best
