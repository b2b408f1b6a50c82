"""benchmarks/asv_offline.py: asv's published site loads its JS/CSS from the vendored copies."""

from __future__ import annotations

import os
import re
import shutil

import pytest

asv = pytest.importorskip("asv")

from benchmarks import asv_offline  # noqa: E402

TEMPLATE_DIR = os.path.join(os.path.dirname(asv.__file__), "www")
_URL_RE = re.compile(r"""<(?:script|link)\b[^>]*?\s(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


def _site(tmp_path):
    html_dir = tmp_path / "html"
    shutil.copytree(TEMPLATE_DIR, html_dir)
    return html_dir


def _urls(html_dir):
    return {page.name: _URL_RE.findall(page.read_text(encoding="utf-8"))
            for page in html_dir.glob("*.html")}


def test_template_pages_point_at_existing_vendor_files(tmp_path):
    html_dir = _site(tmp_path)
    assert any(url.startswith("https://") for urls in _urls(html_dir).values() for url in urls)
    warnings = []
    changed = asv_offline.make_offline(html_dir, warn=warnings.append)
    assert [os.path.basename(p) for p in changed] == ["index.html"]
    assert warnings == []

    local = []
    for page, urls in _urls(html_dir).items():
        for url in urls:
            assert not url.startswith(("https://", "http://", "//")), (page, url)
            if url.startswith("vendor/"):
                local.append(url)
                assert (html_dir / url).is_file(), url
    assert sorted(local) == sorted("vendor/" + p for p in asv_offline.CDN_TO_VENDOR.values())

    index = (html_dir / "index.html").read_text(encoding="utf-8")
    for library in ("jquery", "flot", "orderBars", "stupidtable", "md5", "bootstrap"):
        assert not re.search(rf"""(?:src|href)=["']https://[^"']*{library}""", index, re.IGNORECASE)
    assert "integrity=" not in index and "crossorigin" not in index
    # bootstrap.min.css loads its glyph fonts from ../fonts/
    assert (html_dir / "vendor/bootstrap-3.1.1/fonts/glyphicons-halflings-regular.woff").is_file()


def test_idempotent(tmp_path):
    html_dir = _site(tmp_path)
    asv_offline.make_offline(html_dir)
    before = (html_dir / "index.html").read_text(encoding="utf-8")
    assert asv_offline.make_offline(html_dir) == []
    assert (html_dir / "index.html").read_text(encoding="utf-8") == before


def test_unknown_url_kept_with_warning(tmp_path):
    html_dir = _site(tmp_path)
    index = html_dir / "index.html"
    extra = '<script src="https://cdn.example.org/other.js"></script>\n</head>'
    index.write_text(index.read_text(encoding="utf-8").replace("</head>", extra, 1), encoding="utf-8")
    warnings = []
    asv_offline.make_offline(html_dir, warn=warnings.append)
    assert len(warnings) == 1 and "https://cdn.example.org/other.js" in warnings[0]
    assert "https://cdn.example.org/other.js" in index.read_text(encoding="utf-8")


def test_missing_cdn_url_fails_loudly(tmp_path):
    html_dir = _site(tmp_path)
    index = html_dir / "index.html"
    jquery = "https://code.jquery.com/jquery-3.3.1.min.js"
    index.write_text(index.read_text(encoding="utf-8").replace(jquery, "https://code.jquery.com/jquery-9.9.9.min.js"),
                     encoding="utf-8")
    with pytest.raises(asv_offline.OfflineSiteError, match="jquery-3.3.1"):
        asv_offline.make_offline(html_dir, warn=lambda message: None)


def test_module_defines_no_benchmarks():
    prefixes = ("time_", "track_", "mem_", "peakmem_", "Time", "Track", "Mem", "Peakmem")
    assert not [name for name in vars(asv_offline) if name.startswith(prefixes)]
