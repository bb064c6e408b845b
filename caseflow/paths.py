"""Where the project's non-Python files live."""
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
MIGRATIONS_DIR = PACKAGE_DIR.parent / "migrations"
TRANSLATIONS_DIR = PACKAGE_DIR / "translations"
