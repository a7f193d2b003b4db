"""The public help centre (``/help/{company}``): the company's published articles and FAQs for
everyone as web pages, readable and searchable without signing in, and the supervisors' switch
that publishes it (a card on settings → Knowledge base).

The public pages read no session: the company is found by its code (``help_centre``), then its
articles in its own tenant scope. Everything that cannot be shown (an unknown company, one that
did not publish, an unpublished or one-channel article, a malformed address) is the same 404
page, so the pages do not tell which companies exist. The pages have no script and no form
that changes anything; they are cached briefly by browsers and proxies, per language."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from invekto import runtime
from invekto.ai import help_centre
from invekto.ai.help_centre import PublicHelpCentre
from invekto.core import i18n
from invekto.core.actor import Permission
from invekto.core.errors import AppError, NotFound, PermissionDenied
from invekto.core.text import fold
from invekto.web.automation_views import forbidden_unless
from invekto.web.rendering import Page, WebPage, error_message, render, render_page

router = APIRouter(include_in_schema=False)

# No limiter exists for anonymous requests: a search is kept short instead (its embedding is
# the costly part, and a question is a sentence).
MAX_QUERY_CHARS = 200
DESCRIPTION_CHARS = 160
SNIPPET_CHARS = 240
PUBLIC_HEADERS = {
    "Cache-Control": "public, max-age=60",
    # The language is negotiated from these (``?lang=`` is in the URL already).
    "Vary": "Accept-Language, Cookie",
    # No script at all; Tabler's stylesheet draws some controls with data: images.
    "Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; "
                               "font-src 'self'; img-src 'self' data:; form-action 'self'; "
                               "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_LANGUAGE_NAMES = {"tr": "Türkçe", "en": "English"}


# ---- the article's text as HTML ----------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    """A heading (``h2``..``h4``) or a paragraph of the body, its lines as written. The
    template escapes every line and joins a paragraph's lines with ``<br>``: the company's
    text never becomes markup."""

    tag: str
    lines: tuple[str, ...]


def body_blocks(body: str, title: str = "") -> list[Block]:
    """Paragraphs split at blank lines, and ``#`` headings (``#`` is the level under the
    page's title). A first heading repeating the title (an uploaded document's) is left out."""
    blocks: list[Block] = []
    lines: list[str] = []

    def close_paragraph() -> None:
        if lines:
            blocks.append(Block("p", tuple(lines)))
            lines.clear()

    for raw in body.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.strip()
        heading = _HEADING.match(line)
        if not line:
            close_paragraph()
        elif heading and heading.group(2):
            close_paragraph()
            blocks.append(Block(f"h{min(len(heading.group(1)) + 1, 4)}", (heading.group(2),)))
        else:
            lines.append(line)
    close_paragraph()
    if blocks and blocks[0].tag != "p" and title and fold(blocks[0].lines[0]) == fold(title):
        blocks.pop(0)
    return blocks


def plain_text(body: str, limit: int, title: str = "") -> str:
    """The body as one line of words (headings' marks dropped), cut at a word: for a meta
    description or a snippet."""
    words = " ".join(" ".join(block.lines) for block in body_blocks(body, title)).split()
    text = ""
    for word in words:
        if len(text) + len(word) + 1 > limit:
            return text + "…"
        text = f"{text} {word}" if text else word
    return text


def _snippet(hit_text: str, title: str) -> str:
    """A passage without the title line every chunk starts with."""
    head, _, rest = hit_text.partition("\n")
    return plain_text(rest if head.strip() == title and rest.strip() else hit_text,
                      SNIPPET_CHARS, title)


# ---- shared by the public pages ----------------------------------------------------------------

def _language(request: Request, default: str = "tr") -> str:
    """As for the login page (``?lang=``, the cookie, the browser), falling back on the
    company's language where there is one."""
    return i18n.pick_language(explicit=request.query_params.get("lang"),
                              cookie=request.cookies.get("lang"),
                              accept_language=request.headers.get("accept-language"),
                              default=default)


def _site_url(request: Request) -> str:
    return (runtime.current().settings.public_url or str(request.base_url)).rstrip("/")


def public_url(request: Request, company_slug: str) -> str:
    return f"{_site_url(request)}/help/{company_slug}"


def _chosen_language(request: Request) -> str | None:
    """A language picked with ``?lang=``, carried on in the pages' own links (no cookie is
    set: the pages are cached)."""
    lang = request.query_params.get("lang")
    return lang if lang in i18n.LANGUAGES else None


def _link(path: str, chosen: str | None, **params: str) -> str:
    query = {**params, **({"lang": chosen} if chosen else {})}
    return f"{path}?{urlencode(query)}" if query else path


def _public_page(request: Request, name: str, *, lang: str, status_code: int = 200,
                 **context: Any) -> HTMLResponse:
    # Relative (this page in another language): the page does not repeat its own address.
    others = {k: v for k, v in request.query_params.items() if k != "lang"}
    return render(request, name, lang=lang, status_code=status_code,
                  headers=dict(PUBLIC_HEADERS),
                  languages=[(code, _LANGUAGE_NAMES[code],
                              "?" + urlencode({**others, "lang": code}))
                             for code in i18n.LANGUAGES],
                  **context)


def _not_found(request: Request, centre: PublicHelpCentre | None = None) -> HTMLResponse:
    """One page for every address that shows nothing. Without ``centre`` (the company is not
    known to be published) it depends on the request alone."""
    if centre is None:
        return _public_page(request, "help_centre/not_found.html", lang=_language(request),
                            status_code=404, centre=None)
    return _public_page(request, "help_centre/not_found.html",
                        lang=_language(request, centre.default_language), status_code=404,
                        **_centre_context(request, centre))


async def _centre(company_slug: str) -> PublicHelpCentre | None:
    try:
        return await help_centre.published_help_centre(runtime.current().db, company_slug)
    except NotFound:
        return None


def _centre_context(request: Request, centre: PublicHelpCentre) -> dict[str, Any]:
    chosen = _chosen_language(request)
    home = f"/help/{centre.company_slug}"
    return {"centre": centre, "home": home, "search_action": f"{home}/search",
            "chosen_language": chosen, "site_url": _site_url(request),
            "link": lambda path, **params: _link(path, chosen, **params),
            "max_query": MAX_QUERY_CHARS}


# ---- the public pages --------------------------------------------------------------------------

@router.get("/help/{company_slug}")
async def front_page(request: Request, company_slug: str) -> Response:
    """Title, introduction, the search box, the FAQs (question, then its answer when opened)
    and the articles."""
    centre = await _centre(company_slug)
    if centre is None:
        return _not_found(request)
    async with runtime.current().db.tenant_session(centre.tenant_id) as session:
        articles = await help_centre.public_articles(session, centre)
    context = _centre_context(request, centre)
    return _public_page(
        request, "help_centre/index.html", lang=_language(request, centre.default_language),
        faqs=[a for a in articles if a.kind == "faq"],
        articles=[a for a in articles if a.kind == "article"],
        blocks=body_blocks, description=plain_text(centre.intro, DESCRIPTION_CHARS),
        canonical=context["site_url"] + context["home"], **context)


# Before the article's route, which would take "search" as an article's address.
@router.get("/help/{company_slug}/search")
async def search_page(request: Request, company_slug: str) -> Response:
    centre = await _centre(company_slug)
    if centre is None:
        return _not_found(request)
    lang = _language(request, centre.default_language)
    q = " ".join(str(request.query_params.get("q") or "").split())
    context = _centre_context(request, centre)
    if len(q) > MAX_QUERY_CHARS:
        return _public_page(request, "help_centre/search.html", lang=lang, status_code=422,
                            q=q[:MAX_QUERY_CHARS], hits=[], too_long=True, **context)
    hits = []
    if q:
        async with runtime.current().db.tenant_session(centre.tenant_id) as session:
            hits = await help_centre.public_search(session, centre, q)
    return _public_page(request, "help_centre/search.html", lang=lang, q=q, hits=hits,
                        snippets={hit.article_id: _snippet(hit.text, hit.article_title)
                                  for hit in hits},
                        too_long=False, **context)


@router.get("/help/{company_slug}/{article_slug}")
async def article_page(request: Request, company_slug: str, article_slug: str) -> Response:
    centre = await _centre(company_slug)
    if centre is None:
        return _not_found(request)
    try:
        async with runtime.current().db.tenant_session(centre.tenant_id) as session:
            article = await help_centre.public_article(session, centre, article_slug)
    except NotFound:
        return _not_found(request, centre)
    context = _centre_context(request, centre)
    return _public_page(
        request, "help_centre/article.html", lang=_language(request, centre.default_language),
        article=article, body=body_blocks(article.body, article.title),
        description=plain_text(article.body, DESCRIPTION_CHARS, article.title),
        canonical=f"{context['site_url']}{context['home']}/{article.slug}", **context)


# ---- the supervisors' switch (settings → Knowledge base) ---------------------------------------

async def settings_card(request: Request, page: Page) -> dict[str, Any]:
    """What the knowledge-base page's help-centre card draws."""
    return {"help_centre": await help_centre.get_settings(page.ctx.session, page.tenant.id),
            "help_centre_url": public_url(request, page.tenant.slug),
            "help_values": None, "help_errors": {}, "help_saved": False}


@router.post("/settings/knowledge/help-centre")
async def save_settings(request: Request, page: WebPage) -> Response:
    """Publish or withdraw the help centre, its title and introduction. The card comes back
    (HTMX), a refusal beside its field with what was typed."""
    if refused := forbidden_unless(request, page, Permission.MANAGE_CONTENT):
        return refused
    session, actor = page.ctx.session, page.ctx.actor
    form = await request.form()
    values = {"published": form.get("published") == "on",
              "title": str(form.get("title") or ""), "intro": str(form.get("intro") or "")}
    card = await settings_card(request, page)
    try:
        async with session.begin_nested():
            card["help_centre"] = await help_centre.set_settings(session, actor, **values)
    except AppError as exc:
        if exc.field is None or isinstance(exc, PermissionDenied):
            raise
        response = render_page(request, page, "help_centre/_settings.html", **{
            **card, "help_values": values, "help_errors": {exc.field: error_message(
                exc, page.lang)}})
        response.status_code = exc.status_code
        return response
    if request.headers.get("hx-request") != "true":
        return RedirectResponse("/settings/knowledge#help-centre", status_code=303)
    return render_page(request, page, "help_centre/_settings.html",
                       **{**card, "help_saved": True})
