"""Prompt templates: named files in prompts/, `string.Template` syntax, variables checked on load."""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"

#: The variables each template must use (and may use): a template that misses one or adds another fails to load.
VARIABLES = {
    "qa": {"question", "evidence", "history", "language_name", "cannot_answer", "example_key", "max_sentences"},
    "briefing": {"question", "evidence", "history", "language_name", "cannot_answer", "example_key"},
}


class PromptError(ValueError):
    pass


class Prompt:
    def __init__(self, name: str, text: str, required: set[str]):
        self.name = name
        self.template = string.Template(text)
        if not self.template.is_valid():
            raise PromptError(f"prompts/{name}.txt: invalid placeholder syntax (use $name or ${{name}}; $$ for a dollar)")
        used = set(self.template.get_identifiers())
        if missing := required - used:
            raise PromptError(f"prompts/{name}.txt: missing variables {sorted(missing)}")
        if unknown := used - required:
            raise PromptError(f"prompts/{name}.txt: unknown variables {sorted(unknown)}; allowed: {sorted(required)}")
        self.variables = required

    def render(self, **values: object) -> str:
        if missing := self.variables - values.keys():
            raise PromptError(f"prompt {self.name!r} rendered without {sorted(missing)}")
        return self.template.substitute({k: str(v) for k, v in values.items()})


@lru_cache
def load_prompt(name: str, directory: Path = PROMPTS_DIR) -> Prompt:
    if name not in VARIABLES:
        raise PromptError(f"unknown prompt {name!r}; known: {sorted(VARIABLES)}")
    path = directory / f"{name}.txt"
    if not path.exists():
        raise PromptError(f"{path}: prompt template missing")
    return Prompt(name, path.read_text("utf-8"), VARIABLES[name])
