"""Question language detection lives in `languages.detect`; this module keeps the old import path."""

from languages.detect import detect_language

__all__ = ["detect_language"]
