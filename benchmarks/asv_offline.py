"""asv plugin: make the site that ``asv publish`` writes work without internet access.

Why: asv's HTML template (``asv/www/index.html``, asv 0.6.6) hard-codes ``<script>`` and
``<link>`` tags that load jQuery, flot, flot-orderbars, stupidtable, blueimp-md5 and
Bootstrap from public CDNs. On a machine without internet access (our benchmark machines
and checkers often have none) every one of them fails, and the page shows only "external
JavaScript dependencies failed to load": no grid, no graphs.

What: ``asv.conf.json`` lists this module under ``"plugins"`` (``".benchmarks.asv_offline"``:
asv imports it with the current directory, the repository root, on ``sys.path`` and calls
:func:`setup`). :func:`setup` wraps ``asv.commands.publish.Publish.run`` so that, once the
original publish has written ``conf.html_dir``, :func:`make_offline` copies
``benchmarks/asv_www/vendor/`` (the same libraries, taken from the npm registry; see
``benchmarks/asv_www/README.md``) to ``<html_dir>/vendor/`` and points the CDN tags of
every ``*.html`` file in ``html_dir`` at those copies, dropping their ``integrity``,
``crossorigin`` and ``referrerpolicy`` attributes. Running it again on its own output
changes nothing.

If a CDN URL listed in :data:`CDN_TO_VENDOR` is found nowhere (neither as the CDN URL nor
already rewritten), :func:`make_offline` raises :class:`OfflineSiteError`: an asv upgrade
has changed its template, and the table and ``vendor/`` need updating. External
``<script src>``/``<link href>`` URLs it does not know are left alone, with a warning.

asv's benchmark discovery imports every module in ``benchmarks/``, this one included: it
defines no benchmarks (no ``time_``/``track_``/``mem_``/``peakmem_`` names, no classes) and
imports only the standard library at module level; asv itself is imported in :func:`setup`.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
from typing import Callable

#: The repository root (this file is ``<root>/benchmarks/asv_offline.py``).
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The vendored libraries, copied to ``<html_dir>/vendor/``.
VENDOR_SOURCE = os.path.join(REPO_ROOT, "benchmarks", "asv_www", "vendor")
#: Name of the folder inside ``html_dir``.
VENDOR_DIRNAME = "vendor"

#: Every CDN URL in asv 0.6.6's ``www/index.html`` -> its copy, relative to ``vendor/``.
CDN_TO_VENDOR = {
    "https://code.jquery.com/jquery-3.3.1.min.js": "jquery-3.3.1/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js": "flot-0.8.3/jquery.flot.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js": "flot-0.8.3/jquery.flot.time.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js": "flot-0.8.3/jquery.flot.selection.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js": "flot-0.8.3/jquery.flot.categories.js",
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js": "flot-orderbars-1.0.0/jquery.flot.orderBars.js",
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js": "stupid-table-plugin-1.1.3/stupidtable.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js": "blueimp-md5-2.19.0/md5.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js": "bootstrap-3.1.1/js/bootstrap.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css": "bootstrap-3.1.1/css/bootstrap.min.css",
}

_VENDOR_TO_CDN = {path: url for url, path in CDN_TO_VENDOR.items()}
# A <script ...> or <link ...> start tag.
_TAG_RE = re.compile(r"<(?P<name>script|link)\b[^>]*>", re.IGNORECASE)
# Its src= (script) or href= (link) attribute.
_URL_ATTR_RE = {
    "script": re.compile(r"""(\ssrc\s*=\s*)(?P<q>["']?)(?P<url>[^"'\s>]*)(?P=q)""", re.IGNORECASE),
    "link": re.compile(r"""(\shref\s*=\s*)(?P<q>["']?)(?P<url>[^"'\s>]*)(?P=q)""", re.IGNORECASE),
}
# Attributes that only make sense for the CDN copy (crossorigin may have no value).
_DROP_ATTRS_RE = re.compile(
    r"""\s+(?:integrity|crossorigin|referrerpolicy)(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?(?=[\s/>])""",
    re.IGNORECASE,
)
_EXTERNAL_RE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)


class OfflineSiteError(RuntimeError):
    """The published site cannot be made to work offline (template changed, files missing)."""


def _print_warning(message: str) -> None:
    print(f"asv_offline: warning: {message}", file=sys.stderr)


def rewrite_html(text: str, vendor_prefix: str, warn: Callable[[str], None] = _print_warning,
                 seen: set[str] | None = None, where: str = "") -> str:
    """``text`` with every known CDN ``<script src>``/``<link href>`` pointing into ``vendor_prefix``.

    ``vendor_prefix`` is the URL of ``vendor/`` relative to the page (``"vendor/"`` for a
    page at the top of ``html_dir``). Known CDN tags lose their ``integrity``,
    ``crossorigin`` and ``referrerpolicy`` attributes; other external URLs are left as
    they are and reported through ``warn``. The CDN URLs found, either as such or already
    rewritten, are added to ``seen``.
    """
    seen = set() if seen is None else seen

    def fix_tag(match: re.Match[str]) -> str:
        tag = match.group(0)
        url_match = _URL_ATTR_RE[match.group("name").lower()].search(tag)
        if url_match is None:
            return tag
        url = url_match.group("url")
        if url.startswith(vendor_prefix) and url[len(vendor_prefix):] in _VENDOR_TO_CDN:
            seen.add(_VENDOR_TO_CDN[url[len(vendor_prefix):]])  # already rewritten
            return tag
        if url not in CDN_TO_VENDOR:
            if _EXTERNAL_RE.match(url):
                warn(f"{where or 'page'}: unknown external URL left as is: {url}")
            return tag
        seen.add(url)
        quote = url_match.group("q") or '"'
        local = vendor_prefix + CDN_TO_VENDOR[url]
        tag = tag[:url_match.start()] + f"{url_match.group(1)}{quote}{local}{quote}" + tag[url_match.end():]
        return _DROP_ATTRS_RE.sub("", tag)

    return _TAG_RE.sub(fix_tag, text)


def make_offline(html_dir: str | os.PathLike[str], warn: Callable[[str], None] = _print_warning,
                 vendor_source: str | os.PathLike[str] = VENDOR_SOURCE) -> list[str]:
    """Copy the vendored libraries into ``html_dir`` and point its pages at them.

    Copies ``vendor_source`` to ``<html_dir>/vendor/`` and rewrites every ``*.html`` file
    under ``html_dir`` with :func:`rewrite_html`. Idempotent. Returns the pages changed.

    Raises :class:`OfflineSiteError` if a CDN URL of :data:`CDN_TO_VENDOR` appears in no
    page (asv's template has changed: update the table and ``benchmarks/asv_www/vendor/``)
    or if a vendored file is missing.
    """
    html_dir = os.path.abspath(os.fspath(html_dir))
    vendor_source = os.fspath(vendor_source)
    missing_files = [p for p in CDN_TO_VENDOR.values()
                     if not os.path.isfile(os.path.join(vendor_source, p))]
    if missing_files:
        raise OfflineSiteError(
            f"asv_offline: vendored files missing from {vendor_source}: {', '.join(missing_files)}")
    vendor_dest = os.path.join(html_dir, VENDOR_DIRNAME)
    shutil.copytree(vendor_source, vendor_dest, dirs_exist_ok=True)

    seen: set[str] = set()
    changed = []
    for dirpath, dirnames, filenames in os.walk(html_dir):
        if os.path.abspath(dirpath) == vendor_dest:
            dirnames[:] = []
            continue
        for filename in sorted(filenames):
            if not filename.lower().endswith(".html"):
                continue
            path = os.path.join(dirpath, filename)
            prefix = os.path.relpath(vendor_dest, dirpath).replace(os.sep, "/") + "/"
            with open(path, encoding="utf-8") as f:
                text = f.read()
            new = rewrite_html(text, prefix, warn=warn, seen=seen,
                               where=os.path.relpath(path, html_dir))
            if new != text:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(new)
                changed.append(path)

    not_found = [url for url in CDN_TO_VENDOR if url not in seen]
    if not_found:
        raise OfflineSiteError(
            "asv_offline: these CDN URLs were expected in asv's HTML template but are in no "
            f"*.html file of {html_dir}: {', '.join(not_found)}. asv's template has probably "
            "changed (asv upgrade): update CDN_TO_VENDOR in benchmarks/asv_offline.py and the "
            "files in benchmarks/asv_www/vendor/ to what the new template loads.")
    return changed


def setup() -> None:
    """asv plugin hook (called when asv imports the plugin): post-process ``asv publish``."""
    from asv.commands.publish import Publish
    from asv.console import log

    if getattr(Publish.run, "_attnreg_offline", False):
        return  # already wrapped
    original = Publish.run.__func__

    @functools.wraps(original)
    def run(cls, conf, *args, **kwargs):
        result = original(cls, conf, *args, **kwargs)
        log.info("asv_offline: copying vendored JS/CSS into the site and rewriting its CDN links")
        make_offline(conf.html_dir, warn=lambda message: log.warning(f"asv_offline: {message}"))
        return result

    run._attnreg_offline = True
    Publish.run = classmethod(run)
