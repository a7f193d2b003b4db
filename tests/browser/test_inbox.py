"""The agent's inbox in a real browser: live updates, replying, files, notes with mentions,
tags, transfers, close/reopen, search, languages, escaping, long histories, phone width."""

from __future__ import annotations

import base64
import re
import uuid
from contextlib import asynccontextmanager

import httpx
from playwright.async_api import expect
from sqlalchemy import func, select

from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from invekto.contacts import service as contacts
from invekto.contacts.schemas import CustomFieldCreate, TagCreate
from invekto.inbox import service as inbox
from invekto.inbox.models import Message, Note, Notification
from invekto.replies import service as replies
from invekto.users.models import User

# A 2x2 red PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR4nGP4z8DAwMDAAAAl9gP9lFq38AAAAABJRU5Er"
    "kJggg==")


async def _open(page, conversation_id) -> None:
    await page.locator(f"#row-{conversation_id} .conv-link").click()
    await expect(page.locator("#thread")).to_have_attribute("data-conversation-id",
                                                          str(conversation_id))


async def _scalar(company, query):
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await session.scalar(query)


async def test_a_customer_message_appears_live_in_the_list_and_the_open_thread(world,
                                                                               open_browser):
    home = world.home
    bora = await open_browser(home, "bora", path="/inbox?tab=unassigned")
    page = bora.page
    ayse = await home.inbound("Merhaba, randevu almak istiyorum", handle="ayse", name="Ayşe Yılmaz")
    row = page.locator(f"#row-{ayse.conversation_id}")
    await expect(row).to_contain_text("Ayşe Yılmaz")
    await expect(row).to_contain_text("randevu almak istiyorum")
    await expect(row.locator(".unread-count")).to_have_text("1")

    other = await home.inbound("İyi günler", handle="mehmet", name="Mehmet Öztürk")
    await expect(page.locator(".conv-row").first).to_have_id(f"row-{other.conversation_id}")

    await _open(page, ayse.conversation_id)
    await expect(page.locator(f"#message-{ayse.id}")).to_contain_text("randevu almak")
    await expect(row.locator(".unread-count")).to_have_count(0)  # opening it read it

    later = await home.inbound("Yarın öğleden sonra olur mu?", handle="ayse")
    await expect(page.locator(f"#message-{later.id}")).to_contain_text("öğleden sonra")
    # The new message moved Ayşe back to the top, without a reload.
    await expect(page.locator(".conv-row").first).to_have_id(f"row-{ayse.conversation_id}")
    assert await page.evaluate("performance.getEntriesByType('navigation').length") == 1


async def test_reply_shows_at_once_then_its_delivery_status_and_is_stored_once(world,
                                                                               open_browser):
    home = world.home
    first = await home.inbound("Fiyatlarınızı öğrenebilir miyim?", handle="kemal")
    page = (await open_browser(home, "bora", path="/inbox?tab=unassigned")).page
    await _open(page, first.conversation_id)

    await page.fill("#composer-input", "Tabii, hemen gönderiyorum.")
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("İkinci satır")
    await page.keyboard.press("Enter")
    bubble = page.locator(".msg-outbound").last
    await expect(bubble).to_contain_text("Tabii, hemen gönderiyorum.")
    # The worker hands it to the (web chat) provider: the tick moves past "pending".
    await expect(bubble.locator(".ticks")).to_have_attribute("data-status", "sent")
    await expect(page.locator("#composer-input")).to_have_value("")

    stored = await _scalar(home, select(Message.body).where(
        Message.conversation_id == first.conversation_id, Message.direction == "outbound"))
    assert stored == "Tabii, hemen gönderiyorum.\nİkinci satır"
    assert await _scalar(home, select(func.count()).select_from(Message).where(
        Message.conversation_id == first.conversation_id,
        Message.direction == "outbound")) == 1


async def test_sending_a_file_previews_it_and_a_forbidden_type_gets_a_clear_error(world,
                                                                                  open_browser):
    home = world.home
    first = await home.inbound("Röntgeni gönderir misiniz?", handle="zeynep")
    page = (await open_browser(home, "bora", path="/inbox?tab=unassigned")).page
    await _open(page, first.conversation_id)

    await page.set_input_files("#composer-file-input", files=[
        {"name": "rontgen.png", "mimeType": "image/png", "buffer": PNG}])
    await expect(page.locator("#composer-file")).to_contain_text("rontgen.png")
    await page.fill("#composer-input", "Röntgeniniz ekte")
    await page.click("#send-button")
    image = page.locator(".msg-outbound img.media-image").last
    await expect(image).to_be_visible()
    assert await image.evaluate("img => img.complete && img.naturalWidth") == 2
    assert await _scalar(home, select(Message.content_kind).where(
        Message.conversation_id == first.conversation_id,
        Message.direction == "outbound")) == "image"

    await page.set_input_files("#composer-file-input", files=[
        {"name": "kurulum.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ\x90"}])
    await page.click("#send-button")
    failed = page.locator(".msg.send-failed").last
    await expect(failed.locator(".msg-error")).to_contain_text("Bu dosya türü gönderilemez")
    assert await _scalar(home, select(func.count()).select_from(Message).where(
        Message.conversation_id == first.conversation_id,
        Message.direction == "outbound")) == 1


async def test_a_note_with_a_mention_stays_internal_and_notifies_the_colleague(world,
                                                                                open_browser):
    home = world.home
    first = await home.inbound("Dolgum düştü", handle="ali")
    deniz = await open_browser(home, "deniz")
    page = (await open_browser(home, "bora", path="/inbox?tab=unassigned")).page
    await _open(page, first.conversation_id)

    await page.click("#note-mode")
    await page.type("#composer-input", "@den")
    # The suggestion for the whole "@den" (not an earlier keystroke's list) is the one chosen.
    await expect(page.locator("#composer-popup .option.active")).to_contain_text("@deniz")
    await page.keyboard.press("Enter")  # picks the suggestion
    await expect(page.locator("#composer-input")).to_have_value("@deniz ")
    await page.type("#composer-input", "bu hastayı arayabilir misin?")
    await page.keyboard.press("Enter")

    note = page.locator(".item.note").last
    await expect(note).to_contain_text("bu hastayı arayabilir misin?")
    await expect(note.locator(".mention")).to_have_text("@deniz")
    await expect(deniz.page.locator("#mention-count")).to_have_text("1")

    # Never sent to the customer: a note, not a message.
    assert await _scalar(home, select(func.count()).select_from(Message).where(
        Message.conversation_id == first.conversation_id,
        Message.direction == "outbound")) == 0
    assert await _scalar(home, select(Note.body).where(
        Note.conversation_id == first.conversation_id)) == "@deniz bu hastayı arayabilir misin?"
    assert await _scalar(home, select(func.count()).select_from(Notification).where(
        Notification.user_id == home.deniz.user_id)) == 1


async def test_tagging_with_a_new_tag_shows_the_chip_and_the_event(world, open_browser):
    home = world.home
    first = await home.inbound("Kampanyadan yararlanmak istiyorum", handle="seda")
    page = (await open_browser(home, "bora", path="/inbox?tab=unassigned")).page
    await _open(page, first.conversation_id)

    await page.click("#tag-button")
    await page.fill("#tag-input", "kampanya")
    await page.keyboard.press("Enter")
    await expect(page.locator("#thread-tags")).to_contain_text("kampanya")
    await expect(page.locator(".item.event[data-kind=tagged]")).to_contain_text("kampanya")
    await expect(page.locator(f"#row-{first.conversation_id}")).to_contain_text("kampanya")

    await page.locator("#thread-tags .tag-remove").click()
    await expect(page.locator("#thread-tags")).to_have_count(0)
    await expect(page.locator(".item.event[data-kind=untagged]")).to_be_visible()


async def test_a_transfer_arrives_live_in_the_other_agents_browser(world, open_browser):
    home = world.home
    first = await home.inbound("Faturamı alabilir miyim?", handle="can", name="Can Demir")
    deniz = await open_browser(home, "deniz")  # on "Mine"
    await expect(deniz.page.locator(f"#row-{first.conversation_id}")).to_have_count(0)
    page = (await open_browser(home, "bora", path="/inbox?tab=unassigned")).page
    await _open(page, first.conversation_id)

    await page.click("#take-button")
    await expect(page.locator("#assignee-label")).to_contain_text("Bora")
    await page.click("#transfer-button")
    await page.select_option("#transfer-user", str(home.deniz.user_id))
    await page.fill("#transfer-note", "Muhasebe sorusu")
    await page.locator("#transfer-form button[type=submit]").click()

    await expect(deniz.page.locator(f"#row-{first.conversation_id}")).to_contain_text("Can Demir")
    # Bora no longer holds it, and as an agent outside any group queue no longer sees it: the
    # thread gives way to a notice.
    await expect(page.locator("#conversation-gone")).to_be_visible()
    await expect(page.locator("#composer")).to_have_count(0)

    await deniz.page.locator(f"#row-{first.conversation_id} .conv-link").click()
    await expect(deniz.page.locator("#composer")).to_be_visible()
    await expect(deniz.page.locator(".item.event[data-kind=transferred]")).to_contain_text(
        "Muhasebe sorusu")


async def test_close_and_reopen(world, open_browser):
    home = world.home
    first = await home.inbound("Teşekkürler, sorunum çözüldü", handle="elif")
    page = (await open_browser(home, "bora", path="/inbox?tab=unassigned")).page
    await _open(page, first.conversation_id)

    await page.click("#close-button")
    await expect(page.locator("#conversation-status")).to_have_text("Kapalı")
    await expect(page.locator("#composer")).to_have_count(0)
    await expect(page.locator(".item.event[data-kind=closed]")).to_be_visible()
    # It left the open list.
    await expect(page.locator(f"#row-{first.conversation_id}")).to_have_count(0)

    await page.click("#reopen-header-button")
    await expect(page.locator("#conversation-status")).to_have_text("Açık")
    await expect(page.locator("#composer")).to_be_visible()
    await expect(page.locator(".item.event[data-kind=reopened]")).to_be_visible()


async def test_search_finds_a_message_by_another_inflection_of_a_turkish_word(world,
                                                                              open_browser):
    home = world.home
    wanted = await home.inbound("Siparişlerimi göremiyorum", handle="kaan", name="Kaan Er")
    other = await home.inbound("Merhaba, açık mısınız?", handle="leyla", name="Leyla Su")
    page = (await open_browser(home, "bora", path="/inbox?tab=unassigned")).page
    await expect(page.locator(f"#row-{other.conversation_id}")).to_be_visible()

    await page.fill("#search", "siparişim")
    await expect(page.locator(f"#row-{other.conversation_id}")).to_have_count(0)
    await expect(page.locator(f"#row-{wanted.conversation_id}")).to_be_visible()
    assert "q=sipari" in page.url  # the search is in the address, so a reload keeps it

    await page.fill("#search", "SIPARIS")  # no Turkish letters, upper case
    await expect(page.locator(f"#row-{wanted.conversation_id}")).to_be_visible()
    await page.fill("#search", "kaan")
    await expect(page.locator(f"#row-{wanted.conversation_id}")).to_be_visible()
    await expect(page.locator(f"#row-{other.conversation_id}")).to_have_count(0)


async def test_switching_the_interface_to_english_and_back(world, open_browser):
    home = world.home
    page = (await open_browser(home, "bora")).page
    await expect(page.locator("html")).to_have_attribute("lang", "tr")
    await expect(page.locator("h1")).to_have_text("Gelen kutusu")

    await page.click("#me-button")
    await page.click("#language-form button[value=en]")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("h1")).to_have_text("Inbox")
    await expect(page.locator(".tab-pill[data-tab=mine]")).to_contain_text("Mine")
    assert await _scalar(home, select(User.language).where(User.id == home.bora.user_id)) == "en"

    await page.click("#me-button")
    await page.click("#language-form button[value=tr]")
    await expect(page.locator("h1")).to_have_text("Gelen kutusu")
    await expect(page.locator(".tab-pill[data-tab=mine]")).to_contain_text("Benim")


XSS_NAME = "<img src=x onerror=\"window.__xss='name'\">Hacker"
XSS_BODY = "<script>window.__xss='script'</script><img src=x onerror=\"window.__xss='img'\">"


async def test_customer_text_is_shown_as_text_and_runs_nothing(world, open_browser):
    home = world.home
    first = await home.inbound(XSS_BODY, handle="evil", name=XSS_NAME)
    page = (await open_browser(home, "bora", path="/inbox?tab=unassigned")).page
    row = page.locator(f"#row-{first.conversation_id}")
    await expect(row).to_contain_text("<img src=x")  # arrived live, shown literally
    await _open(page, first.conversation_id)
    await expect(page.locator(f"#message-{first.id} .msg-body")).to_have_text(XSS_BODY)
    await expect(page.locator("#contact-name")).to_have_value(XSS_NAME)

    # The same payload as an agent's own note and reply.
    await page.click("#note-mode")
    await page.fill("#composer-input", XSS_BODY)
    await page.keyboard.press("Enter")
    await expect(page.locator(".item.note .msg-body").last).to_have_text(XSS_BODY)

    await page.reload()  # server-rendered this time, not inserted by script
    await expect(page.locator(f"#message-{first.id} .msg-body")).to_have_text(XSS_BODY)
    assert await page.evaluate("window.__xss") is None
    assert await page.locator("img[src='x']").count() == 0
    assert await page.locator("#thread script, #conversation-list script").count() == 0


async def test_a_long_history_loads_the_latest_page_then_older_ones_on_scrolling_up(
        world, open_browser):
    home = world.home
    messages = [await home.inbound(f"Mesaj {i}", handle="uzun") for i in range(95)]
    page = (await open_browser(home, "bora", path="/inbox?tab=unassigned")).page
    await _open(page, messages[0].conversation_id)
    await expect(page.locator(f"#message-{messages[-1].id}")).to_be_visible()
    assert await page.locator(".item.msg").count() == 40  # one page, not the whole history

    for expected in (80, 95):
        await page.locator("#timeline").evaluate("node => node.scrollTop = 0")
        await expect(page.locator(".item.msg")).to_have_count(expected)
    await expect(page.locator(".history-start")).to_be_visible()
    # Still in order, oldest first, and no message twice.
    ids = await page.locator(".item.msg").evaluate_all("nodes => nodes.map(n => n.id)")
    assert ids == [f"message-{m.id}" for m in messages]


async def test_supervisor_monitor_shows_agents_and_takes_a_conversation_over(world,
                                                                             open_browser):
    home = world.home
    first = await home.inbound("Acil yardım lazım", handle="acil", name="Acil Hasta")
    bora = await open_browser(home, "bora", path="/inbox?tab=unassigned")
    await _open(bora.page, first.conversation_id)
    await bora.page.click("#take-button")
    await expect(bora.page.locator("#assignee-label")).to_contain_text("Bora")

    sevgi = (await open_browser(home, "sevgi", path="/monitor")).page
    card = sevgi.locator(f"#agent-{home.bora.user_id}")
    await expect(card).to_have_attribute("data-presence", "online")
    await expect(card).to_contain_text("Acil Hasta")

    # Bora steps away: the monitor follows live.
    await bora.page.click("#me-button")
    await bora.page.click("#presence-form button[data-presence=away]")
    await expect(card).to_have_attribute("data-presence", "away")

    await card.get_by_text("Acil Hasta").click()
    await expect(sevgi.locator(".composer-notice")).to_contain_text("Bora")  # read-only
    await sevgi.click("#takeover-button")
    await expect(sevgi.locator("#composer")).to_be_visible()
    await expect(sevgi.locator(".item.event[data-kind=takeover]")).to_be_visible()
    await expect(bora.page.locator("#composer")).to_have_count(0)  # Bora's view follows


async def test_screenshots_at_desktop_and_phone_width(world, open_browser, artifacts):
    home = world.home
    for name, text in [("Ayşe Yılmaz", "Merhaba, yarın için randevu alabilir miyim?"),
                       ("Mehmet Öztürk", "Diş beyazlatma fiyatı nedir?"),
                       ("Şükrü Çelik", "Teşekkürler, görüşmek üzere")]:
        last = await home.inbound(text, handle=str(uuid.uuid4()), name=name)
    desktop = (await open_browser(home, "bora", path="/inbox?tab=unassigned")).page
    await _open(desktop, last.conversation_id)
    await desktop.fill("#composer-input", "Rica ederiz, iyi günler!")
    await desktop.keyboard.press("Enter")
    await expect(desktop.locator(".msg-outbound .ticks")).to_have_attribute("data-status", "sent")
    await desktop.screenshot(path=artifacts / "inbox-desktop.png")

    phone = (await open_browser(home, "bora", width=360, height=740)).page  # Mine
    await expect(phone.locator("#list-pane")).to_be_visible()
    await expect(phone.locator("#thread-pane")).to_be_hidden()
    await phone.screenshot(path=artifacts / "inbox-phone-list.png")
    await phone.locator(f"#row-{last.conversation_id} .conv-link").click()
    await expect(phone.locator("#thread-pane")).to_be_visible()
    await expect(phone.locator("#list-pane")).to_be_hidden()
    await phone.screenshot(path=artifacts / "inbox-phone-thread.png")
    await phone.locator("#thread-header [data-show-pane=list]").click()
    await expect(phone.locator("#list-pane")).to_be_visible()
    for shot in ("inbox-desktop.png", "inbox-phone-list.png", "inbox-phone-thread.png"):
        assert (artifacts / shot).stat().st_size > 10_000
    assert re.search(r"inbox", phone.url)


async def test_quick_replies_emoji_and_a_recorded_voice_note(world, open_browser):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await replies.create(session, home.system, shortcut="iade",
                             body="İade işleminiz 3 iş günü içinde tamamlanır.")
        await replies.create(session, home.system, shortcut="adres",
                             body="Adresimiz: Bağdat Caddesi No: 5, Kadıköy")
    first = await home.inbound("İade ne zaman yatar?", handle="iade")
    page = (await open_browser(home, "bora", path="/inbox?tab=unassigned")).page
    await _open(page, first.conversation_id)

    await page.type("#composer-input", "/ia")
    popup = page.locator("#composer-popup")
    await expect(popup).to_contain_text("/iade")
    await expect(popup).not_to_contain_text("/adres")
    await page.keyboard.press("Enter")
    await expect(page.locator("#composer-input")).to_have_value(
        "İade işleminiz 3 iş günü içinde tamamlanır.")
    await page.click("#emoji-button")
    await page.locator('.emoji[data-emoji="🙏"]').click()
    await page.keyboard.press("Enter")
    await expect(page.locator(".msg-outbound .msg-body").last).to_have_text(
        "İade işleminiz 3 iş günü içinde tamamlanır.🙏")

    # Chromium's fake microphone (a launch flag) stands in for the agent's voice.
    await page.click("#record-button")
    await expect(page.locator("#record-button")).to_have_class(re.compile("recording"))
    await page.wait_for_timeout(1200)
    await page.click("#record-button")
    audio = page.locator(".msg-outbound audio.media-audio").last
    await expect(audio).to_be_visible()
    kinds = await _scalar(home, select(func.array_agg(Message.content_kind)).where(
        Message.conversation_id == first.conversation_id, Message.direction == "outbound"))
    assert sorted(kinds) == ["audio", "text"]

    # A quick reply from the library that carries a file: the file goes with its text.
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        pdf = await inbox.store_attachment(session, home.system, home.rt.storage,
                                           filename="iade-formu.pdf",
                                           content_type="application/pdf",
                                           data=b"%PDF-1.7 iade", max_bytes=10_000_000)
        await replies.create(session, home.system, shortcut="iadeformu",
                             body="İade formunu doldurup gönderebilirsiniz.",
                             attachment_id=pdf.id)
    await page.type("#composer-input", "/iadef")
    await expect(popup).to_contain_text("iade-formu.pdf")
    await page.keyboard.press("Enter")
    await expect(page.locator("#composer-file .file-name")).to_have_text("iade-formu.pdf")
    await page.keyboard.press("Enter")
    document = page.locator(".msg-outbound a.media-file").last
    await expect(document).to_contain_text("iade-formu.pdf")
    await expect(page.locator("#composer-file")).to_be_hidden()


async def test_bulk_close_and_a_saved_view(world, open_browser):
    home = world.home
    chats = [await home.inbound(f"Toplu {i}", handle=f"toplu-{i}", name=f"Toplu {i}")
             for i in range(3)]
    page = (await open_browser(home, "sevgi", path="/inbox?tab=unassigned")).page
    for chat in chats[:2]:
        await page.locator(f"#row-{chat.conversation_id} .row-select").check()
    await expect(page.locator("#bulk-count")).to_have_text("2")
    await page.select_option("#bulk-action", "close")
    await page.locator("#bulk-form button[type=submit]").click()
    for chat in chats[:2]:
        await expect(page.locator(f"#row-{chat.conversation_id}")).to_have_count(0)
    await expect(page.locator(f"#row-{chats[2].conversation_id}")).to_be_visible()
    await expect(page.locator("#bulk-form")).to_be_hidden()

    await page.fill("#search", "toplu")
    await expect(page.locator(".conv-row")).to_have_count(1)
    page.once("dialog", lambda dialog: dialog.accept("Toplu sorular"))
    await page.click("#views-button")
    await page.click("#save-view")
    await page.wait_for_url(re.compile(r"view="))
    await expect(page.locator("h1")).to_have_text("Toplu sorular")
    await expect(page.locator(".conv-row")).to_have_count(1)
    await expect(page.locator("#saved-views .view-pill.active")).to_have_text("Toplu sorular")
    await page.click("#views-button")
    await expect(page.locator('#views-menu [data-view="Toplu sorular"]')).to_be_visible()


async def test_a_new_message_in_mine_raises_the_badge_and_the_title_count(world, open_browser):
    home = world.home
    mine = await home.inbound("İlk mesaj", handle="rozet", name="Rozet Hanım")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await inbox.assign(session, home.system, mine.conversation_id, home.bora.user_id)
    other = await home.inbound("Başka biri", handle="baska")
    page = (await open_browser(home, "bora", path="/inbox?tab=unassigned")).page
    await _open(page, other.conversation_id)  # reading another conversation
    await expect(page.locator("#mine-unread")).to_be_hidden()

    await home.inbound("Cevap bekliyorum", handle="rozet")
    await expect(page.locator("#mine-unread")).to_have_text("1")
    await expect(page).to_have_title(re.compile(r"^\(1\) "))
    await page.goto(f"/inbox?c={mine.conversation_id}")
    await expect(page.locator("#mine-unread")).to_be_hidden()


async def test_a_draft_survives_actions_and_a_colleagues_change(world, open_browser):
    home = world.home
    first = await home.inbound("Kargom nerede?", handle="taslak")
    page = (await open_browser(home, "bora", path="/inbox?tab=unassigned")).page
    await _open(page, first.conversation_id)
    await page.fill("#composer-input", "Yarım kalan cevabım")
    await page.set_input_files("#composer-file-input", files=[
        {"name": "fatura.png", "mimeType": "image/png", "buffer": PNG}])

    await page.click("#priority-button")
    await page.click('[data-priority="high"].dropdown-item')
    await expect(page.locator(".item.event[data-kind=priority]")).to_be_visible()
    async with home.rt.db.tenant_session(home.tenant_id) as session:  # a colleague tags it
        await inbox.change_tags(session, home.system, first.conversation_id, add=["kargo"],
                                remove=[], create_missing=True)
    await expect(page.locator("#thread-tags")).to_contain_text("kargo")

    await expect(page.locator("#composer-input")).to_have_value("Yarım kalan cevabım")
    await expect(page.locator("#composer-file")).to_contain_text("fatura.png")


async def test_the_contact_card_edits_fields_tags_and_notes_inline(world, open_browser):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await contacts.create_tag(session, home.system, TagCreate(name="sadık müşteri"))
        await contacts.create_custom_field(session, home.system, CustomFieldCreate(
            key="dogum_tarihi", label="Doğum tarihi", field_type="date"))
    first = await home.inbound("Merhaba", handle="kart", name="Kart Sahibi")
    page = (await open_browser(home, "bora", path="/inbox?tab=unassigned")).page
    await _open(page, first.conversation_id)

    @asynccontextmanager
    async def saved():
        """Each edit re-renders the card: the next edit waits for the new card, not just for
        the answer (typing into the old one, about to be replaced, would be lost)."""
        await page.evaluate("document.getElementById('contact-card').dataset.stale = '1'")
        yield
        await expect(page.locator("#contact-card:not([data-stale])")).to_have_count(1)

    await page.fill("#contact-name", "Nur Yıldız")
    async with saved():
        await page.press("#contact-name", "Enter")  # saves, and stays on the page
    await expect(page.locator("#contact-name")).to_have_value("Nur Yıldız")
    await page.fill("#cf-dogum_tarihi", "1990-04-23")
    async with saved():
        await page.locator("#cf-dogum_tarihi").dispatch_event("change")
    await page.fill(".contact-tag-input", "sadık müşteri")
    async with saved():
        await page.press(".contact-tag-input", "Enter")
    await expect(page.locator("#contact-tags")).to_contain_text("sadık müşteri")
    await page.fill("#contact-note-form textarea", "Her ay kontrole gelir")
    async with saved():
        await page.locator("#contact-note-form button[type=submit]").click()
    await expect(page.locator("#contact-notes")).to_contain_text("Her ay kontrole gelir")

    async with home.rt.db.tenant_session(home.tenant_id) as session:
        contact = await contacts.get_contact(session, home.system, first.contact_id)
    assert (contact.name, contact.custom_fields, contact.tags) == (
        "Nur Yıldız", {"dogum_tarihi": "1990-04-23"}, ["sadık müşteri"])

    # A wrong phone number is refused in Turkish and nothing changes.
    await page.fill('#contact-card input[name="phone"]', "12")
    await page.locator('#contact-card input[name="phone"]').dispatch_event("change")
    await expect(page.locator("#toasts")).to_contain_text("telefon")


async def test_a_pbx_call_event_appears_as_a_call_entry_in_the_thread(world, open_browser,
                                                                      live_server):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        line = await channels.create_channel(session, home.system, ChannelCreate(
            kind="voice", name="Santral"))
        token = channels.webhook_secret(line)
    page = (await open_browser(home, "bora", path="/inbox?tab=unassigned")).page
    number = "+90532" + str(uuid.uuid4().int)[:7]
    # The PBX reports a missed call, over real HTTP to the running server (the worker ingests).
    async with httpx.AsyncClient(base_url=live_server) as pbx:
        response = await pbx.post(f"/webhooks/voice/{line.id}", json={
            "event": "call.ended", "call_id": uuid.uuid4().hex, "direction": "inbound",
            "from": number, "to": "+908501234567", "started_at": "2026-11-26T09:15:02+03:00",
            "ended_at": "2026-11-26T09:15:30+03:00", "outcome": "missed"},
            headers={"X-Invekto-Webhook-Token": token})
    assert response.status_code == 200
    await expect(page.locator(".conv-row", has_text="📞").first).to_be_visible()
    await page.locator(".conv-row", has_text="📞").first.locator(".conv-link").click()
    entry = page.locator(".msg-call").last
    await expect(entry).to_have_attribute("data-outcome", "missed")
    await expect(entry.locator(".call-title")).to_have_text("Cevapsız arama")
