"""povqa assistant: retrieval, answering, CLI and API."""
