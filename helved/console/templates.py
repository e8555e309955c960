"""The console's pages (Jinja2, autoescaped) and its style sheet. No script: the Content Security
Policy allows none on these pages."""

from __future__ import annotations

from jinja2 import DictLoader, Environment, select_autoescape

CSS = """
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #212121; background: #fafafa; }
header { background: #263238; color: #fff; padding: 8px 16px; display: flex; gap: 18px; align-items: center; }
header a { color: #fff; text-decoration: none; font-weight: 500; }
header .who { margin-left: auto; font-size: 12px; opacity: .85; }
header form { display: inline; }
main { padding: 16px; max-width: 1400px; }
h1 { font-size: 20px; margin: 4px 0 12px; }
h2 { font-size: 16px; margin: 0 0 8px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 14px; }
.card { background: #fff; border: 1px solid #e0e0e0; border-radius: 6px; padding: 12px; overflow: auto; }
.card.alert { border-left: 4px solid #c62828; }
.card.wide { grid-column: span 2; }
@media (max-width: 900px) { .card.wide { grid-column: auto; } }
.card.warn { border-left: 4px solid #f9a825; }
.big { font-size: 26px; font-weight: 600; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid #eee; vertical-align: top; font-size: 13px; }
th { background: #f5f5f5; }
code, pre { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
pre { background: #f5f5f5; padding: 10px; overflow: auto; max-height: 70vh; border-radius: 4px; }
.muted { color: #757575; }
.FEILET, .s08, .s12 { color: #c62828; font-weight: 600; }
.OK, .s00 { color: #2e7d32; font-weight: 600; }
.MOTTATT, .HOS_OPPDRAG { color: #1565c0; }
.s04 { color: #9e9d24; font-weight: 600; }
form.inline, div.inline { display: flex; gap: 4px; align-items: center; flex-wrap: wrap; }
input[type=text], input[type=password], select { padding: 3px 5px; border: 1px solid #bdbdbd; border-radius: 3px; }
button { padding: 3px 10px; border: 1px solid #455a64; background: #455a64; color: #fff; border-radius: 3px; cursor: pointer; }
button.secondary { background: #fff; color: #263238; }
.flash { padding: 8px 12px; border-radius: 4px; margin-bottom: 12px; }
.flash.error { background: #ffebee; border: 1px solid #c62828; }
.flash.ok { background: #e8f5e9; border: 1px solid #2e7d32; }
.search { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 6px; margin-bottom: 12px; }
.search label { font-size: 12px; display: flex; flex-direction: column; }
.scroll { overflow-x: auto; }
.login { max-width: 380px; margin: 60px auto; background: #fff; padding: 20px; border: 1px solid #e0e0e0; border-radius: 6px; }
.login label { display: block; margin-bottom: 10px; }
.login input { width: 100%; }
textarea { width: 100%; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; border: 1px solid #bdbdbd; border-radius: 3px; margin-bottom: 6px; }
"""

BASE = """<!doctype html>
<html lang="no"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}helved console{% endblock %}</title><link rel="stylesheet" href="/static/console.css"></head>
<body>
{% if user %}<header><a href="/">helved console</a><a href="/">Dashboard</a><a href="/messages">Meldinger</a><a href="/audit">Audit</a>
<a href="/docs">API</a>
<span class="who">{{ user.name }} · {{ user.role }}</span>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="{{ csrf }}"><button class="secondary" type="submit">Logg ut</button></form></header>{% endif %}
<main>
{% if flash %}<div class="flash {{ flash_kind or 'ok' }}" role="status">{{ flash }}</div>{% endif %}
{% block main %}{% endblock %}
</main></body></html>
"""

LOGIN = """{% extends "base.html" %}{% block title %}Sign in · helved console{% endblock %}{% block main %}
<form class="login" method="post" action="/login">
<h1>helved console</h1>
<p class="muted">Sign in with the viewer or operator token <code>helved console</code> printed.</p>
<label>Token <input type="password" name="token" autocomplete="off" required></label>
<label>Your name (NAV ident, e.g. Z123456) <input type="text" name="name" required pattern="[A-Za-z0-9._@\\-]{1,64}"></label>
<input type="hidden" name="next" value="{{ next }}">
<button type="submit">Sign in</button>
</form>{% endblock %}
"""

REASON = """<input type="hidden" name="csrf" value="{{ csrf }}"><input type="text" name="reason" placeholder="reason (required)" size="22">"""

DASHBOARD = (
    """{% extends "base.html" %}{% block main %}
<h1>Dashboard <span class="muted">{{ now }}</span></h1>
<div class="cards">
<section class="card alert wide" id="feilet"><h2>FEILET, not handled <span class="big">{{ d.feilet|length }}</span></h2>
<table><tr><th>time</th><th>key</th><th>sak</th><th>error</th>{% if user.operator %}<th>handled</th>{% endif %}</tr>
{% for f in d.feilet[:50] %}<tr class="feilet-row">
<td>{{ f.timestamp|oslo }}</td><td><a href="/messages/{{ f.id }}">{{ f.originalKey|mask }}</a></td>
<td>{% if f.sakId %}<a class="sak-link" href="/sak/{{ f.fagsystem|urlencode }}/{{ f.sakId|urlencode }}">{{ f.sakId }}</a>{% else %}<span class="muted">—</span>{% endif %}<br><span class="muted">{{ f.fagsystem or '' }}</span></td>
<td>{{ f.error.statusCode }} {{ f.error.msg|mask|short(90) }}</td>
{% if user.operator %}<td><form class="inline" method="post" action="/actions/mark-handled"><input type="hidden" name="record" value="{{ f.id }}"><input type="hidden" name="next" value="/">"""
    + REASON
    + """<button type="submit">Handled</button></form></td>{% endif %}
</tr>{% else %}<tr><td colspan="5" class="muted">Nothing failed that is not handled.</td></tr>{% endfor %}</table></section>

<section class="card warn" id="stuck"><h2>Oppdrag without a receipt for over an hour inside OS's opening hours <span class="big">{{ d.stuck|length }}</span></h2>
<p class="muted">Hours counted 06-21 Europe/Oslo on Norwegian working days only.</p>
<table><tr><th>sent</th><th>waited (open hours)</th><th>key</th><th>sak</th><th>nøkkelAvstemming</th><th></th></tr>
{% for o in d.stuck[:50] %}<tr class="stuck-row"><td>{{ o.timestamp|oslo }}</td><td>{{ '≥ ' if o.openAtLeast else '' }}{{ '%.1f'|format(o.openMs / 3600000) }} h</td><td>{{ o.originalKey|mask }}</td>
<td>{% if o.sakId %}<a href="/sak/{{ o.fagsystem|urlencode }}/{{ o.sakId|urlencode }}">{{ o.sakId }}</a>{% endif %}</td><td><code>{{ o.ref or '' }}</code></td>
<td><a href="/oppdrag/{{ o.id }}">Oppdrag</a></td></tr>{% else %}<tr><td colspan="6" class="muted">Every Oppdrag has its receipt within an hour of OS's opening hours.</td></tr>{% endfor %}</table></section>

<section class="card warn" id="mismatches"><h2>Pending/confirmed mismatches <span class="big">{{ d.mismatches|length }}</span></h2>
<table><tr><th>since</th><th>uid</th><th>sak</th><th>request</th><th>what</th></tr>
{% for m in d.mismatches[:50] %}<tr class="mismatch-row" data-kind="{{ m.kind }}"><td>{{ m.since|oslo }}</td><td><a href="/messages/{{ m.id }}"><code>{{ m.uid|short(13) }}</code></a></td>
<td>{% if m.sakId %}<a href="/sak/{{ m.fagsystem|urlencode }}/{{ m.sakId|urlencode }}">{{ m.sakId }}</a>{% endif %}</td><td>{{ m.originalKey|mask }}</td>
<td>{{ m.why }}{% if m.oppdragId %} · <a href="/oppdrag/{{ m.oppdragId }}">Oppdrag</a>{% endif %}</td></tr>
{% else %}<tr><td colspan="5" class="muted">Pending and confirmed utbetalinger agree with the receipts.</td></tr>{% endfor %}</table></section>

<section class="card alert" id="doubles"><h2>Suspected double payments <span class="big">{{ d.doubles|length }}</span></h2>
<p class="muted">Two accepted Oppdrag of one sak paying the same klassekode on the same days, the later not chained to the earlier.</p>
<table><tr><th>sak</th><th>klassekode</th><th>days</th><th>first Oppdrag</th><th>later Oppdrag</th></tr>
{% for x in d.doubles[:50] %}<tr class="double-row"><td>{% if x.sakId %}<a href="/sak/{{ x.fagsystem|urlencode }}/{{ x.sakId|urlencode }}">{{ x.sakId }}</a>{% endif %} <span class="muted">{{ x['fagområde'] or '' }}</span></td>
<td><code>{{ x.klassekode }}</code></td><td>{{ x.fom }} .. {{ x.tom }}</td>
<td><a href="/oppdrag/{{ x.first.id }}">{{ x.first.originalKey|mask }}</a></td><td><a href="/oppdrag/{{ x.later.id }}">{{ x.later.originalKey|mask }}</a></td></tr>
{% else %}<tr><td colspan="5" class="muted">None found.</td></tr>{% endfor %}</table></section>

<section class="card" id="requests"><h2>Requests by latest status</h2>
<table><tr><th>fagsystem</th>{% for s in statuses %}<th>{{ s }}</th>{% endfor %}</tr>
{% for fag, counts in d.requests.items() %}<tr><td>{{ fag }}</td>{% for s in statuses %}<td class="{{ s }}">{{ counts.get(s, 0) }}</td>{% endfor %}</tr>
{% else %}<tr><td class="muted">No requests archived.</td></tr>{% endfor %}</table></section>

<section class="card" id="recent"><h2>Latest requests</h2>
<table><tr><th>time</th><th>key</th><th>sak</th><th>fagsystem</th><th>latest status</th></tr>
{% for r in d.recent %}<tr class="recent-row"><td>{{ r.timestamp|oslo }}</td><td><a href="/messages/{{ r.id }}">{{ r.originalKey|mask }}</a></td>
<td>{% if r.sakId %}<a class="sak-link" href="/sak/{{ r.fagsystem|urlencode }}/{{ r.sakId|urlencode }}">{{ r.sakId }}</a>{% endif %}</td><td>{{ r.fagsystem or '' }}</td>
<td class="{{ r.latest or '' }}">{{ r.latest or '—' }}</td></tr>{% else %}<tr><td colspan="5" class="muted">No requests archived.</td></tr>{% endfor %}</table></section>

<section class="card" id="avstemming"><h2>Last grensesnittavstemming per fagområde</h2>
<table><tr><th>fagområde</th><th>period</th><th>run on</th><th>id</th><th>antall</th><th>beløp</th></tr>
{% for a in d.avstemming %}<tr><td>{{ a['fagområde'] }}</td><td>{{ a.fom }} .. {{ a.tom }}</td><td>{{ a.today }}{% if not a.scheduled %} (explicit){% endif %}</td>
<td><code>{{ a.id }}</code></td><td>{{ a.antall }}</td><td>{{ a['beløp'] }}</td></tr>{% else %}<tr><td colspan="6" class="muted">No avstemming archived.</td></tr>{% endfor %}</table></section>

<section class="card" id="archive"><h2>Archive</h2>
<p>{{ d.archive.records }} records; newest {{ d.archive.newest|oslo }}. DLQ: <a href="/messages?kind=dlq">{{ d.dlq }}</a> records.</p></section>
</div>{% endblock %}
"""
)

MESSAGES = """{% extends "base.html" %}{% block main %}
<h1>Messages <span class="muted">{{ page.total }} found</span></h1>
<form class="search" method="post" action="/messages">
<input type="hidden" name="csrf" value="{{ csrf }}">
<label>topic<select name="topic"><option value="">(all)</option>{% for t in topics %}<option{% if t == q.topic %} selected{% endif %}>{{ t }}</option>{% endfor %}</select></label>
<label>key<input type="text" name="key" value="{{ q.key or '' }}"></label>
<label>sak<input type="text" name="sak" value="{{ q.sak or '' }}"></label>
<label>fagsystem<input type="text" name="fagsystem" value="{{ q.fagsystem or '' }}"></label>
<label>status<select name="status"><option value="">(any)</option>{% for s in all_statuses %}<option{% if s == q.status %} selected{% endif %}>{{ s }}</option>{% endfor %}</select></label>
<label>kind<select name="kind"><option value="">(any)</option>{% for k in kinds %}<option{% if k == q.kind %} selected{% endif %}>{{ k }}</option>{% endfor %}</select></label>
<label>from (YYYY-MM-DD[ HH:MM])<input type="text" name="from" value="{{ q['from'] or '' }}"></label>
<label>to<input type="text" name="to" value="{{ q.to or '' }}"></label>
<label>text in value<input type="text" name="text" value="{{ q.text or '' }}"></label>
<label>page<input type="text" name="page" value="{{ page.page }}" size="4"></label>
<label>&nbsp;<button type="submit">Search</button></label>
</form>
<div class="scroll"><table><tr><th>#</th><th>time</th><th>topic</th><th>p@offset</th><th>key</th><th>sak</th><th>status / code</th><th>value</th></tr>
{% for r in page['items'] %}<tr><td><a href="/messages/{{ r.id }}">{{ r.id }}</a></td><td>{{ r.timestamp|oslo }}</td><td>{{ r.topic }}</td><td>{{ r.partition }}@{{ r.offset }}</td>
<td>{{ r.key|mask|short(40) }}</td><td>{% if r.sakId %}<a href="/sak/{{ r.fagsystem|urlencode }}/{{ r.sakId|urlencode }}">{{ r.sakId }}</a>{% endif %}</td>
<td class="{{ r.status or '' }} s{{ r.code or '' }}">{{ r.status or '' }} {{ r.code or '' }}</td><td><code>{{ r.body|mask|short(110) }}</code></td></tr>
{% else %}<tr><td colspan="8" class="muted">Nothing matches.</td></tr>{% endfor %}</table></div>
{% if page.total > page.page * page.size %}<form method="post" action="/messages" class="inline">{% for k, v in q.items() if v and k != 'page' %}<input type="hidden" name="{{ k }}" value="{{ v }}">{% endfor %}
<input type="hidden" name="csrf" value="{{ csrf }}"><input type="hidden" name="page" value="{{ page.page + 1 }}"><button type="submit">Next page</button></form>{% endif %}
{% endblock %}
"""

MESSAGE = (
    """{% extends "base.html" %}{% block main %}
<h1>{{ r.kind }} record #{{ r.id }} {% if r.replay %}<span class="muted">(a replayed copy)</span>{% endif %}</h1>
<table><tr><th>topic</th><td>{{ r.topic }}[{{ r.partition }}]@{{ r.offset }}</td></tr>
<tr><th>key</th><td><code>{{ r.key|maybe_mask(revealed) }}</code></td></tr>
<tr><th>time</th><td>{{ r.timestamp|oslo }} <span class="muted">({{ r.timestamp }})</span></td></tr>
<tr><th>sak</th><td>{% if r.sakId %}<a href="/sak/{{ r.fagsystem|urlencode }}/{{ r.sakId|urlencode }}">{{ r.sakId }}</a> ({{ r.fagsystem }}){% endif %}</td></tr>
<tr><th>status / code</th><td class="{{ r.status or '' }}">{{ r.status or '' }} {{ r.code or '' }}</td></tr>
{% if r.kind == 'oppdrag' %}<tr><th>Oppdrag</th><td><a href="/oppdrag/{{ r.id }}">with its receipt</a></td></tr>{% endif %}
</table>
<h2>Headers</h2><table>{% for h in r.headers %}<tr><th><code>{{ h[0] }}</code></th><td><code>{{ h[1]|maybe_mask(revealed) }}</code></td></tr>{% else %}<tr><td class="muted">none</td></tr>{% endfor %}</table>
<h2>Value <span class="muted">({{ fmt }})</span></h2>
<pre class="value">{{ text|maybe_mask(revealed) }}</pre>
{% if not revealed %}<form class="inline" method="post" action="/messages/{{ r.id }}/reveal">"""
    + REASON
    + """<button type="submit">Show idents (audited)</button></form>
{% else %}<p class="muted">Idents shown: this read is in the audit log.</p>{% endif %}
{% if resubmit %}<section class="card" id="resubmit"><h2>Resubmit a corrected request</h2>
{% if not resubmit.request %}<p class="muted">Not a request: this is {{ resubmit.why }} the pipeline put on the DLQ. Only a request can be resubmitted.</p>
{% elif not user.operator %}<p class="muted">An operator can resubmit it, corrected, to {{ resubmit.topic }}.</p>
{% elif not resubmit.open %}<p class="muted">To resubmit it corrected to <code>{{ resubmit.topic }}</code>, show idents first: the editor holds the request as it is.</p>
{% else %}<p class="muted">Goes to <code>{{ resubmit.topic }}</code> under key <code>{{ r.key|mask }}</code>, marked as a resubmission; the sender's parser checks it first.</p>
<form method="post" action="/actions/resubmit"><input type="hidden" name="record" value="{{ r.id }}">
<textarea name="value" rows="18" spellcheck="false">{{ resubmit.value }}</textarea>
<div class="inline">"""
    + REASON
    + """<button type="submit">Resubmit</button></div></form>{% endif %}</section>{% endif %}
{% if audit %}<h2>Audit</h2><table>{% for a in audit %}<tr class="audit-row"><td>{{ a.when }}</td><td>{{ a.who }}</td><td>{{ a.action }}</td><td>{{ a.reason|mask }}</td></tr>{% endfor %}</table>{% endif %}
{% endblock %}
"""
)

OPPDRAG = (
    """{% extends "base.html" %}{% block main %}
<h1>Oppdrag #{{ o.oppdrag.id }} — {% if o.inFlight %}<span class="MOTTATT">in flight (no receipt)</span>{% else %}answered{% endif %}</h1>
<p>key <code>{{ o.oppdrag.originalKey|mask }}</code> · sak {% if o.oppdrag.sakId %}<a href="/sak/{{ o.oppdrag.fagsystem|urlencode }}/{{ o.oppdrag.sakId|urlencode }}">{{ o.oppdrag.sakId }}</a>{% endif %}
· nøkkelAvstemming <code>{{ o.oppdrag.ref }}</code> · sent {{ o.oppdrag.timestamp|oslo }} · <a href="/messages/{{ o.oppdrag.id }}">record</a></p>
<h2>Receipts</h2><table><tr><th>#</th><th>time</th><th>alvorlighetsgrad</th><th>from</th></tr>
{% for k in o.receipts %}<tr class="receipt-row"><td><a href="/messages/{{ k.id }}">{{ k.id }}</a></td><td>{{ k.timestamp|oslo }}</td><td class="s{{ k.code }}">{{ k.code }}</td><td>{{ 'manual receipt' if k.manual else 'OS, after a resend' if k.resend else 'OS' }}</td></tr>{% else %}<tr><td colspan="4" class="muted">none</td></tr>{% endfor %}</table>
<h2>Statuses of its request</h2><table>{% for s in o.statuses %}<tr><td>{{ s.timestamp|oslo }}</td><td class="{{ s.status }}">{{ s.status }}</td><td>{{ s.code or '' }}</td></tr>{% endfor %}</table>
{% if o.inFlight and user.operator %}<h2>Manual receipt</h2>
<p class="muted">Only when OS processed the Oppdrag and its receipt was lost. The receipt goes to the kvittering topic as OS's answer would; the pipeline applies it.</p>
<form class="inline" method="post" action="/actions/manual-receipt"><input type="hidden" name="record" value="{{ o.oppdrag.id }}"><input type="hidden" name="next" value="/oppdrag/{{ o.oppdrag.id }}">
<select name="code"><option value="00">00 accepted</option><option value="04">04 accepted with a warning</option></select>
<input type="text" name="text" placeholder="beskrMelding (04)" size="24">"""
    + REASON
    + """<button type="submit">Add receipt</button></form>
<h2>Resend to OS</h2>
<p class="muted">When OS never got the Oppdrag (or lost it): the OS bridge hands this Oppdrag to OS again, once per resend.</p>
<form class="inline" method="post" action="/actions/resend"><input type="hidden" name="record" value="{{ o.oppdrag.id }}"><input type="hidden" name="next" value="/oppdrag/{{ o.oppdrag.id }}">"""
    + REASON
    + """<button type="submit">Resend</button></form>{% endif %}
<h2>Audit</h2><table>{% for a in o.audit %}<tr><td>{{ a.when }}</td><td>{{ a.who }}</td><td>{{ a.action }}</td><td>{{ a.reason|mask }}</td></tr>{% else %}<tr><td class="muted">none</td></tr>{% endfor %}</table>
<h2>Oppdrag XML</h2><pre>{{ xml|mask }}</pre>
{% endblock %}
"""
)

SAK = """{% extends "base.html" %}{% block title %}{{ s.sakId }} · helved console{% endblock %}{% block main %}
<h1>Sak {{ s.sakId }} <span class="muted">{{ s.fagsystem }}</span></h1>
<p>{{ s.requests|length }} requests · {{ s.utbetalinger|length }} utbetalinger · active uids: {{ s.active|length if s.active is not none else 'none confirmed' }} · {{ s.records|length }} records · rendered in {{ '%.0f'|format(elapsed_ms) }} ms</p>
<section class="card"><h2>Utbetalinger over time</h2><div class="scroll">{{ periods_svg|safe }}</div></section>
<section class="card"><h2>request → Oppdrag → kvittering → status</h2><div class="scroll">{{ timeline_svg|safe }}</div></section>
<section class="card"><h2>Requests</h2><table><tr><th>#</th><th>time</th><th>key</th><th>statuses</th><th>Oppdrag</th><th>receipt</th></tr>
{% for r in s.requests %}<tr><td>{{ loop.index }}</td><td>{{ r.timestamp|oslo }}</td><td>{% if r.request %}<a href="/messages/{{ r.request.id }}">{{ r.originalKey|mask }}</a>{% else %}{{ r.originalKey|mask }}{% endif %}</td>
<td>{% if r.resubmissions %}<span class="muted">resubmitted ×{{ r.resubmissions|length }}:</span> {% endif %}{% for st in r.statuses %}<span class="{{ st.status }}">{{ st.status }}</span>{% if st.code %} <span class="muted">{{ st.code|mask|short(50) }}</span>{% endif %}{% if not loop.last %} → {% endif %}{% endfor %}</td>
<td>{% for o in r.oppdrag %}<a href="/oppdrag/{{ o.id }}">{{ o.ref }}</a> {% endfor %}</td>
<td>{% for o in r.oppdrag %}{% for k in o.receipts %}<span class="s{{ k.code }}">{{ k.code }}</span> {% else %}<span class="MOTTATT">in flight</span>{% endfor %}{% endfor %}</td></tr>{% endfor %}</table></section>
<section class="card"><h2>Utbetalinger</h2><table><tr><th>uid</th><th>stønad</th><th>confirmed</th><th>pending</th></tr>
{% for u in s.utbetalinger %}<tr><td><code>{{ u.uid }}</code></td><td>{{ (u.confirmed or u.pending or {}).get('stønad', '') }}</td>
<td>{% if u.confirmed %}{{ u.confirmed.action }} {% for p in u.confirmed.perioder %}{{ p.fom }}..{{ p.tom }} {{ p['beløp'] }}; {% endfor %}{% endif %}</td>
<td>{% if u.pending %}{{ u.pending.action }} {% for p in u.pending.perioder %}{{ p.fom }}..{{ p.tom }} {{ p['beløp'] }}; {% endfor %}{% endif %}</td></tr>{% endfor %}</table></section>
<section class="card"><h2>Audit</h2><table>{% for a in s.audit %}<tr><td>{{ a.when }}</td><td>{{ a.who }}</td><td>{{ a.action }}</td><td>{{ a.reason|mask }}</td></tr>{% else %}<tr><td class="muted">none</td></tr>{% endfor %}</table></section>
{% endblock %}
"""

AUDIT = """{% extends "base.html" %}{% block main %}
<h1>Audit log <span class="muted">{{ log.total }} entries</span></h1>
<table><tr><th>when</th><th>who</th><th>role</th><th>action</th><th>reason</th><th>target</th><th>sak</th></tr>
{% for a in log['items'] %}<tr class="audit-row"><td>{{ a.when }}</td><td>{{ a.who }}</td><td>{{ a.role }}</td><td>{{ a.action }}</td><td>{{ a.reason|mask }}</td>
<td>{% if a.target %}{% if a.target.recordId %}<a href="/messages/{{ a.target.recordId }}">{% endif %}{{ a.target.topic }}[{{ a.target.partition }}]@{{ a.target.offset }}{% if a.target.recordId %}</a>{% endif %}{% endif %}</td>
<td>{% if a.sak %}<a href="/sak/{{ a.sak.fagsystem|urlencode }}/{{ a.sak.sakId|urlencode }}">{{ a.sak.sakId }}</a>{% endif %}</td></tr>
{% else %}<tr><td colspan="7" class="muted">No entries.</td></tr>{% endfor %}</table>
{% endblock %}
"""

RESULT = """{% extends "base.html" %}{% block main %}
<h1>{{ heading }}</h1><p>{{ message }}</p>{% if back %}<p><a href="{{ back }}">Back</a></p>{% endif %}
{% endblock %}
"""

TEMPLATES = {
    "base.html": BASE,
    "login.html": LOGIN,
    "dashboard.html": DASHBOARD,
    "messages.html": MESSAGES,
    "message.html": MESSAGE,
    "oppdrag.html": OPPDRAG,
    "sak.html": SAK,
    "audit.html": AUDIT,
    "result.html": RESULT,
}


def environment() -> Environment:
    from helved.console.present import mask, oslo, short

    env = Environment(loader=DictLoader(TEMPLATES), autoescape=select_autoescape(default=True, default_for_string=True))

    def masked(text: object) -> str:
        return "" if text is None else mask(str(text)) or ""

    env.filters["mask"] = masked
    env.filters["oslo"] = oslo
    env.filters["short"] = lambda text, n=120: short(None if text is None else str(text), n)
    env.filters["maybe_mask"] = lambda text, revealed: ("" if text is None else str(text)) if revealed else masked(text)
    return env
