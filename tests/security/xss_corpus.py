"""Cross-site scripting payloads for the browser suite (tests/browser/test_xss.py).

Each would, if it ever ran, set the global ``__xss`` (or open a dialog): the test reads the flag
instead of waiting for an alert. Every payload fits the shortest field it is put in (a tag name,
50 characters) and is one line, so that the page's text can be compared with it literally.
"""

from __future__ import annotations

PAYLOADS: dict[str, str] = {
    "script-tag": "<script>__xss=1</script>",
    "img-onerror": "<img src=x onerror=__xss=2>",
    "svg-onload": "<svg onload=__xss=3>",
    "javascript-link": '<a href="javascript:__xss=4">tıkla</a>',
    "javascript-url": "javascript:__xss=5",
    "iframe-srcdoc": '<iframe srcdoc="<svg onload=parent.__xss=6>">',
    "template-injection": "{{7*7}} ${7*7} #{7*7} <%= 7*7 %>",
    "double-quote-break": '"><img src=x onerror=__xss=8>',
    "single-quote-break": "'><svg onload=__xss=9>",
    "textarea-break": "</textarea><script>__xss=10</script>",
    "rtl-override": "\u202e<img src=x onerror=__xss=11>gpj.exe",
    "full-width-brackets": "\uff1cscript\uff1e__xss=12\uff1c/script\uff1e",
    "zero-width": "<scr\u200bipt>__xss=13</scr\u200bipt><b\u200b>",
    "alpine-directive": '<div x-data x-init="__xss=14">a</div>',
    "htmx-attribute": '<img src=x hx-on:htmx:load="__xss=15">',
    "details-ontoggle": "<details open ontoggle=__xss=16>",
    "js-string-break": "';alert(17);//\\\";alert(17);//",
    "object-data": '<object data="javascript:__xss=18">',
    "body-onload": "<body onload=alert(19)>",
    "style-expression": "<p style=x:expression(__xss=20)>ie</p>",
}

# Where each payload is put, as the product receives it (see test_xss.py for how).
PLACES = ("customer_message", "contact_name", "template_text", "file_name", "quick_reply",
          "tag_name")

assert all(len(p) <= 50 and "\n" not in p for p in PAYLOADS.values())
