"""`povqa` with the tests' instant "fake" embedder registered: `python -m bench.fakecli index DIR` (set
POVQA_EMBEDDER=fake and POVQA_RETRIEVAL__SECOND_EMBEDDER= ). For benches and tests that need a real
process (SIGKILL, a served port) without minutes of model loading."""

import tests.conftest  # noqa: F401  (registers the "fake" embedder)
from assistant.cli import main

FAKE_ENV = {"POVQA_EMBEDDER": "fake", "POVQA_RETRIEVAL__SECOND_EMBEDDER": ""}

if __name__ == "__main__":
    main()
