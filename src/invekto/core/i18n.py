"""Turkish and English UI strings. Turkish is the default; a user's saved language wins, then
``?lang=``, the ``lang`` cookie and the browser's Accept-Language."""

from __future__ import annotations

LANGUAGES = ("tr", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "login.title": {"tr": "Giriş yap", "en": "Log in"},
    "login.company": {"tr": "Firma kodu", "en": "Company code"},
    "login.username": {"tr": "Kullanıcı adı", "en": "Username"},
    "login.password": {"tr": "Şifre", "en": "Password"},
    "login.submit": {"tr": "Giriş", "en": "Log in"},
    "login.failed": {"tr": "Firma kodu, kullanıcı adı veya şifre hatalı.",
                     "en": "Company code, username or password is wrong."},
    "login.locked": {"tr": "Çok fazla hatalı deneme. {minutes} dakika sonra tekrar deneyin.",
                     "en": "Too many failed attempts. Try again in {minutes} minutes."},
    "login.csrf": {"tr": "Oturum formu süresi doldu; sayfayı yenileyip tekrar deneyin.",
                   "en": "The form expired; reload the page and try again."},
    "home.title": {"tr": "Gelen kutusu", "en": "Inbox"},
    "home.welcome": {"tr": "Hoş geldiniz, {name}", "en": "Welcome, {name}"},
    "home.open": {"tr": "Açık konuşmalar", "en": "Open conversations"},
    "home.api": {"tr": "API belgeleri", "en": "API documentation"},
    "logout": {"tr": "Çıkış", "en": "Log out"},
    "role.agent": {"tr": "Temsilci", "en": "Agent"},
    "role.supervisor": {"tr": "Süpervizör", "en": "Supervisor"},
    "role.admin": {"tr": "Yönetici", "en": "Admin"},
}


def translate(key: str, language: str, **values: object) -> str:
    entry = MESSAGES[key]
    text = entry.get(language) or entry["tr"]
    return text.format(**values) if values else text


def pick_language(*, explicit: str | None, cookie: str | None, accept_language: str | None,
                  default: str = "tr") -> str:
    for candidate in (explicit, cookie):
        if candidate in LANGUAGES:
            return candidate
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return default
