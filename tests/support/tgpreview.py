"""Preview pages (https://t.me/s/CHANNEL) of our own synthetic channels, in the markup Telegram serves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape


@dataclass
class Post:
    number: int
    text: str  # HTML allowed (<br/>, <a href>)
    when: datetime
    forwarded_from: tuple[str, str] | None = None  # (name, url)
    edited: bool = False
    photo: bool = False
    service: bool = False
    photo_url: str | None = None  # where the photo is (default: a CDN address no test reaches)


def preview_page(channel: str, title: str, posts: list[Post], *, before: int | None = None) -> str:
    """One page as t.me/s serves it: the posts oldest first, a "load more" link to `?before=` the oldest."""
    blocks = []
    for p in sorted(posts, key=lambda p: p.number):
        if p.service:
            blocks.append(f'<div class="tgme_widget_message_wrap"><div class="tgme_widget_message service_message" '
                          f'data-post="{channel}/{p.number}"><div class="tgme_widget_message_bubble">'
                          f'<div class="message_media_not_supported_wrap">Channel photo updated</div></div></div></div>')
            continue
        forwarded = ""
        if p.forwarded_from:
            name, url = p.forwarded_from
            forwarded = (f'<div class="tgme_widget_message_forwarded_from accent_color">Forwarded from '
                         f'<a class="tgme_widget_message_forwarded_from_name" href="{url}"><span>{escape(name)}'
                         f'</span></a></div>')
        photo = (f'<a class="tgme_widget_message_photo_wrap" href="https://t.me/{channel}/{p.number}" '
                 f'style="background-image:url(\'{p.photo_url or f"https://cdn.example/file/{p.number}.jpg"}\')"></a>') \
            if p.photo else ""
        stamp = p.when.isoformat()
        blocks.append(f"""
<div class="tgme_widget_message_wrap js-widget_message_wrap">
 <div class="tgme_widget_message text_not_supported_wrap js-widget_message" data-post="{channel}/{p.number}"
      data-view="eyJjIjotMTAwMTIzNH0">
  <div class="tgme_widget_message_user"><a href="https://t.me/{channel}"><i class="tgme_widget_message_user_photo"></i></a></div>
  <div class="tgme_widget_message_bubble">
   <div class="tgme_widget_message_author accent_color"><a class="tgme_widget_message_owner_name" href="https://t.me/{channel}"><span dir="auto">{escape(title)}</span></a></div>
   {forwarded}{photo}
   <div class="tgme_widget_message_text js-message_text" dir="auto">{p.text}</div>
   <div class="tgme_widget_message_footer compact js-message_footer">
    <div class="tgme_widget_message_info short js-message_info">
     <span class="tgme_widget_message_views">1.2K</span>
     <span class="tgme_widget_message_meta">{'edited ' if p.edited else ''}<a class="tgme_widget_message_date" href="https://t.me/{channel}/{p.number}"><time datetime="{stamp}" class="time">{p.when:%H:%M}</time></a></span>
    </div>
   </div>
  </div>
 </div>
</div>""")
    oldest = min((p.number for p in posts), default=None)
    more = prev = ""
    if oldest is not None and oldest > 1:
        more = (f'<div class="tgme_widget_message_centered js-messages_more_wrap"><a href="/s/{channel}?before={oldest}" '
                f'data-before="{oldest}" class="tme_messages_more js-messages_more"></a></div>')
        prev = f'<link rel="prev" href="/s/{channel}?before={oldest}">'
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{escape(title)} – Telegram</title>
<meta property="og:title" content="{escape(title)}">{prev}
<link rel="canonical" href="https://t.me/s/{channel}{f'?before={before}' if before else ''}"></head>
<body class="widget_frame_base tgme_body">
<header class="tgme_header"><div class="tgme_channel_info_header_title"><span dir="auto">{escape(title)}</span></div></header>
<main class="tgme_main"><section class="tgme_channel_history js-message_history">
{more}
{''.join(blocks)}
</section></main></body></html>"""


def embed_page(channel: str, title: str, post: Post) -> str:
    """A post's own page as t.me/CHANNEL/ID?embed=1 serves it: the one post, its photo, its date."""
    page = preview_page(channel, title, [post])
    body = page.split('<section class="tgme_channel_history js-message_history">', 1)[1].split("</section>", 1)[0]
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{escape(title)} – Telegram</title></head>'
            f'<body class="widget_frame_base tgme_widget body_widget_post">{body}</body></html>')


def post_not_found_page() -> str:
    """What t.me/CHANNEL/ID?embed=1 serves once the post is deleted."""
    return ('<!DOCTYPE html><html><head><meta charset="utf-8"></head><body class="widget_frame_base">'
            '<div class="tgme_widget_message_error">Post not found</div></body></html>')
