"""`marsad demo`: serve the bundled sample feeds on 127.0.0.1 and ingest them, offline."""

from __future__ import annotations

from pathlib import Path

from flows.fixture_site import FixtureSite

SAMPLE_SITE = Path(__file__).parent / "sample_site"
DEMO_FEEDS = (
    # name, path on the sample site, source, timezone
    ("aljazeera", "/feeds/aljazeera.xml", "Al Jazeera", "Asia/Qatar"),
    ("baghdadtoday", "/feeds/baghdadtoday.xml", "Baghdad Al-Youm", "Asia/Baghdad"),
)


def demo_config_text(base_url: str, db: Path) -> str:
    """A marsad.toml for the sample site served at base_url."""
    lines = [
        "# Written by `marsad demo` for the bundled sample site; safe to delete.",
        "[warehouse]",
        f'path = "{db.resolve().as_posix()}"',
        "",
        "[fetch]",
        'allow_private = ["127.0.0.1"]',
        "timeout_s = 10",
        "",
    ]
    for name, path, source, zone in DEMO_FEEDS:
        lines += [
            "[[feeds]]",
            f'name = "{name}"',
            f'url = "{base_url}{path}"',
            f'source = "{source}"',
            'language = "ar"',
            f'timezone = "{zone}"',
            "",
        ]
    return "\n".join(lines)


def run_demo(db: Path, *, port: int = 0) -> dict:
    """Serve the sample site, run one pass into `db`, stop the site; returns the run record."""
    from flows.cli import run_pass
    from flows.config import load_config

    db.parent.mkdir(parents=True, exist_ok=True)
    config_path = db.with_suffix(".toml")
    with FixtureSite(SAMPLE_SITE, port=port) as site:
        config_path.write_text(demo_config_text(site.base_url, db), encoding="utf-8")
        config = load_config(config_path)
        return run_pass(config, db)
