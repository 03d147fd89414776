"""Server-rendered HTML pages of the monitor (pure: data in, HTML text out).

No external resources: one stylesheet and one small script served by the log
server itself under ``/static/``; every value is HTML-escaped.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from urllib.parse import quote, urlencode

from gwms_core.logserver.extract import STATUSES
from gwms_core.logserver.index import FileRow, GlideinRow, LineRow

STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#243b55;color:#fff;padding:.6em 1em;display:flex;gap:1em;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:600}
header .user{margin-left:auto}
header form{display:inline}
main{padding:1em}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #dde1e7;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#eef1f5}
#timeline td:first-child,#hits td:nth-child(2){white-space:nowrap}
form.filters{display:flex;flex-wrap:wrap;gap:.5em;margin-bottom:1em;align-items:end}
form.filters label{display:flex;flex-direction:column;font-size:.85em}
.status-failed{color:#b3261e;font-weight:600}
.status-succeeded{color:#1b6e2f}
.status-running{color:#7a5b00}
.sev-error,.sev-fatal{background:#fde8e7}
.sev-warning{background:#fff6d6}
pre{background:#10151d;color:#e8eef6;padding:.6em;overflow:auto;max-height:30em}
pre.sev-error,pre.sev-fatal{background:#5c1b17;color:#fff}
pre.sev-warning{background:#5a4700;color:#fff}
mark{background:#ffe066}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}
dl.facts dt{font-weight:600}
.error{color:#b3261e}
.login{max-width:22em;margin:4em auto;background:#fff;padding:1.5em;border-radius:6px}
.login label{display:block;margin:.5em 0}
.login input{width:100%}
"""

SCRIPT = """
document.addEventListener('DOMContentLoaded', function () {
  var box = document.getElementById('only-problems');
  if (!box) { return; }
  box.addEventListener('change', function () {
    document.querySelectorAll('#timeline tbody tr').forEach(function (tr) {
      var bad = tr.classList.contains('sev-error') || tr.classList.contains('sev-fatal') ||
                tr.classList.contains('sev-warning');
      tr.hidden = box.checked && !bad;
    });
  });
});
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def fmt_time(t: float | None) -> str:
    """UTC time as ``YYYY-MM-DD HH:MM:SS``, or empty."""
    if t is None:
        return ""
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def glidein_href(entry: str, glidein: str) -> str:
    """Link to a glidein's page."""
    return f"/glidein/{quote(entry, safe='')}/{quote(glidein, safe='')}"


def layout(title: str, body: str, user: str | None = None) -> str:
    """The common page frame."""
    who = ""
    if user is not None:
        who = (f'<span class="user">{_e(user)} <form method="post" action="/logout">'
               '<button type="submit">Log out</button></form></span>')
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)} - GlideinMonitor</title>"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="stylesheet" href="/static/style.css">'
            '<script src="/static/app.js" defer></script></head><body>'
            '<header><a href="/">GlideinMonitor</a>' + who + "</header>"
            f"<main>{body}</main></body></html>")


def login_page(next_url: str = "/", error: str | None = None) -> str:
    """The login form."""
    err = f'<p class="error" role="alert">{_e(error)}</p>' if error else ""
    return layout("Log in", (
        '<form class="login" method="post" action="/login">'
        "<h1>Log in</h1>" + err +
        '<label>User <input name="username" id="username" autocomplete="username" '
        "required></label>"
        '<label>Password <input type="password" name="password" id="password" '
        'autocomplete="current-password" required></label>'
        f'<input type="hidden" name="next" value="{_e(next_url)}">'
        '<button type="submit" id="login">Log in</button></form>'))


def _select(name: str, current: str | None, options: Sequence[str]) -> str:
    opts = ['<option value="">any</option>'] + [
        f'<option value="{_e(o)}"{" selected" if o == current else ""}>{_e(o)}</option>'
        for o in options]
    return f'<select name="{name}" id="f-{name}">{"".join(opts)}</select>'


def list_page(user: str, params: Mapping[str, str], rows: Sequence[GlideinRow], total: int,
              hits: Sequence[LineRow], entries: Sequence[str],
              frontends: Sequence[str]) -> str:
    """The glidein list with filters, full-text search and matching lines."""
    form = (
        '<form class="filters" method="get" action="/">'
        f'<label>Search<input type="search" name="q" id="q" value="{_e(params.get("q"))}" '
        'placeholder="words from the logs"></label>'
        f"<label>Entry{_select('entry', params.get('entry'), entries)}</label>"
        f"<label>Frontend{_select('frontend', params.get('frontend'), frontends)}</label>"
        f"<label>Status{_select('status', params.get('status'), STATUSES)}</label>"
        f'<label>Since (UTC)<input type="datetime-local" name="since" '
        f'value="{_e(params.get("since"))}"></label>'
        f'<label>Until (UTC)<input type="datetime-local" name="until" '
        f'value="{_e(params.get("until"))}"></label>'
        '<button type="submit" id="search">Filter</button></form>')
    trs = []
    for r in rows:
        f = r.facts
        trs.append(
            "<tr>"
            f'<td><a class="glidein" href="{glidein_href(f.entry, f.glidein)}">'
            f"{_e(f.glidein)}</a></td><td>{_e(f.entry)}</td><td>{_e(f.frontend)}</td>"
            f'<td class="status-{_e(f.status)}">{_e(f.status)}</td>'
            f"<td>{_e(f.exit_status)}</td><td>{_e(f.failing_script)}</td>"
            f"<td>{_e(f.node)}</td><td>{fmt_time(f.start)}</td><td>{fmt_time(f.last_seen)}</td>"
            "</tr>")
    table = ('<table id="glideins"><thead><tr><th>Glidein</th><th>Entry</th><th>Frontend</th>'
             "<th>Status</th><th>Exit</th><th>Failing script</th><th>Node</th><th>Start</th>"
             f"<th>Last record</th></tr></thead><tbody>{''.join(trs)}</tbody></table>")
    more = ""
    offset = int(params.get("offset", "0") or 0)
    if offset + len(rows) < total:
        nxt = dict(params)
        nxt["offset"] = str(offset + len(rows))
        more = f'<p><a href="/?{_e(urlencode(nxt))}">Next page</a></p>'
    hit_html = ""
    if hits:
        items = "".join(
            f'<tr class="sev-{_e(h.severity)}"><td><a href="{glidein_href(h.entry, h.glidein)}">'
            f"{_e(h.glidein)}</a></td><td>{fmt_time(h.time)}</td><td>{_e(h.script)}</td>"
            f"<td>{_e(h.severity)}</td><td><code>{_e(_snippet(h.text))}</code></td></tr>"
            for h in hits)
        hit_html = ('<h2>Matching lines</h2><table id="hits"><thead><tr><th>Glidein</th>'
                    "<th>Time</th><th>Script</th><th>Severity</th><th>Text</th></tr></thead>"
                    f"<tbody>{items}</tbody></table>")
    body = (f"<h1>Glideins</h1>{form}<p>{total} glidein(s)</p>{table}{more}{hit_html}")
    return layout("Glideins", body, user)


def _snippet(text: str, width: int = 300) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "\u2026"


def download_href(entry: str, glidein: str, name: str, attachment: str | None = None,
                  seq: int | None = None) -> str:
    """Link to a stored file, or to one attached file inside it."""
    base = f"/download/{quote(entry, safe='')}/{quote(glidein, safe='')}/{quote(name, safe='')}"
    if attachment is not None:
        base += "?" + urlencode({"attachment": attachment, "seq": seq})
    return base


def glidein_page(user: str, row: GlideinRow, files: Sequence[FileRow],
                 lines: Sequence[LineRow]) -> str:
    """One glidein: facts, failing script's output, timeline and downloads."""
    f = row.facts
    facts = [("Entry", f.entry), ("Glidein", f.glidein), ("Factory", f.factory),
             ("Frontend", f.frontend), ("Site", f.site), ("Job id", f.job_id),
             ("Node", f.node), ("Start", fmt_time(f.start)), ("End", fmt_time(f.end)),
             ("Last record", fmt_time(f.last_seen)), ("Exit status", f.exit_status),
             ("Failing script", f.failing_script), ("Error records", f.errors)]
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    dl += f'<dt>Status</dt><dd class="status-{_e(f.status)}" id="status">{_e(f.status)}</dd>'
    failing = ""
    if f.failing_script is not None:
        out = [ln for ln in lines if ln.script == f.failing_script or
               (ln.message or "").startswith(f"script {f.failing_script} (")]
        blocks = []
        for ln in out:
            if ln.attachment is not None:
                href = download_href(f.entry, f.glidein, ln.file, ln.attachment, ln.seq)
                said = (f'<pre class="sev-{_e(ln.severity)}">[{_e(ln.severity)}] '
                        f"{_e(ln.message)}</pre>") if ln.message else ""
                blocks.append(f'{said}<h3>{_e(ln.attachment)} <a href="{_e(href)}">download'
                              f"</a></h3><pre>{_e(ln.file_text)}</pre>")
            else:
                blocks.append(f'<pre class="sev-{_e(ln.severity)}">[{_e(ln.severity)}] '
                              f"{_e(ln.text)}</pre>")
        failing = (f'<section id="failing"><h2>Output of the failing script '
                   f"<code>{_e(f.failing_script)}</code></h2>{''.join(blocks)}</section>")
    trs = []
    for ln in lines:
        if ln.attachment is not None:
            href = download_href(f.entry, f.glidein, ln.file, ln.attachment, ln.seq)
            text = (f"{_e(ln.message)} " if ln.message else "") + (
                f'[attached file <a href="{_e(href)}">{_e(ln.attachment)}</a>, '
                f"{len(ln.file_text)} characters]")
        else:
            text = _e(ln.text)
        ev = f"{ln.event or ''}{'' if ln.exit_code is None else f' ({ln.exit_code})'}"
        trs.append(f'<tr class="sev-{_e(ln.severity)}"><td>{fmt_time(ln.time)}</td>'
                   f"<td>{_e(ln.script)}</td><td>{_e(ln.pid)}</td><td>{_e(ln.severity)}</td>"
                   f"<td>{_e(ev)}</td><td>{text}</td></tr>")
    timeline = ('<h2>Timeline</h2><label><input type="checkbox" id="only-problems"> '
                "only warnings and errors</label>"
                '<table id="timeline"><thead><tr><th>Time (UTC)</th><th>Script</th>'
                "<th>PID</th><th>Severity</th><th>Event</th><th>Message</th></tr></thead>"
                f"<tbody>{''.join(trs)}</tbody></table>")
    dls = "".join(f'<li><a href="{_e(download_href(f.entry, f.glidein, fr.name))}">'
                  f"{_e(fr.name)}</a> ({fr.nbytes} bytes, uploaded {fmt_time(fr.updated)})"
                  "</li>" for fr in files)
    downloads = f'<h2>Downloads</h2><ul id="downloads">{dls}</ul>'
    body = (f"<h1>Glidein {_e(f.glidein)}</h1>"
            f'<dl class="facts">{dl}</dl>{failing}{timeline}{downloads}')
    return layout(f"Glidein {f.glidein}", body, user)


def error_page(status: int, message: str, user: str | None = None) -> str:
    """A plain error page."""
    return layout(f"Error {status}", f"<h1>Error {status}</h1><p>{_e(message)}</p>", user)
