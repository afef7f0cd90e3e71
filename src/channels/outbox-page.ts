/** What the page shows of an outbox message (OutboxMessage, without importing it back). */
type ShownMessage = Readonly<Record<'id' | 'to' | 'channel' | 'transport' | 'text' | 'code' | 'purpose' | 'challengeId' | 'sentAt', string>>;

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ESCAPES[char]!);
}

function bubble(message: ShownMessage): string {
  const time = message.sentAt.slice(11, 19);
  return `<li class="bubble ${escapeHtml(message.transport)}" data-challenge="${escapeHtml(message.challengeId)}">
  <div class="meta"><span class="to">${escapeHtml(message.to)}</span> · <span class="via">${escapeHtml(message.channel)} (${escapeHtml(message.transport)})</span> · <span class="purpose">${escapeHtml(message.purpose)}</span></div>
  <p class="text">${escapeHtml(message.text)}</p>
  <div class="foot"><code class="code">${escapeHtml(message.code)}</code><time datetime="${escapeHtml(message.sentAt)}">${escapeHtml(time)}</time></div>
</li>`;
}

/** The outbox as a page, newest first, refreshing itself; every value is escaped. */
export function renderOutboxPage(newestFirst: readonly ShownMessage[]): string {
  const items = newestFirst.map(bubble).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dev outbox · whatsapp-stepup</title>
<style>
  body { margin: 0; font: 15px/1.4 system-ui, sans-serif; background: #efeae2; color: #111b21; }
  header { background: #008069; color: #fff; padding: 14px 20px; }
  header h1 { font-size: 18px; margin: 0; }
  header p { margin: 4px 0 0; font-size: 13px; opacity: .85; }
  ul { list-style: none; margin: 0 auto; padding: 16px; max-width: 640px; }
  .bubble { background: #d9fdd3; border-radius: 8px; padding: 8px 10px; margin: 0 0 12px auto; max-width: 85%; box-shadow: 0 1px .5px rgba(11,20,26,.13); }
  .bubble.sms { background: #fff; }
  .meta { font-size: 12px; color: #667781; }
  .text { white-space: pre-wrap; margin: 6px 0; }
  .foot { display: flex; justify-content: space-between; align-items: center; font-size: 12px; color: #667781; }
  .code { font-size: 16px; letter-spacing: 2px; color: #111b21; background: rgba(0,0,0,.06); padding: 2px 6px; border-radius: 4px; }
  .empty { text-align: center; color: #667781; }
</style>
</head>
<body>
<header><h1>Dev outbox</h1><p>Messages the app "sent", newest first. Development only: never mounted in production.</p></header>
<ul id="messages">${items || '<li class="empty">No messages yet.</li>'}</ul>
<script>
  const list = document.getElementById('messages');
  const source = location.pathname.replace(/\\/?$/, '/') + 'messages.json';
  let shown = ${JSON.stringify(newestFirst[0]?.id ?? '')};
  function render(messages) {
    list.replaceChildren();
    if (messages.length === 0) { const li = document.createElement('li'); li.className = 'empty'; li.textContent = 'No messages yet.'; list.append(li); return; }
    for (const m of messages) {
      const li = document.createElement('li'); li.className = 'bubble ' + m.transport; li.dataset.challenge = m.challengeId;
      const meta = document.createElement('div'); meta.className = 'meta'; meta.textContent = m.to + ' · ' + m.channel + ' (' + m.transport + ') · ' + m.purpose;
      const text = document.createElement('p'); text.className = 'text'; text.textContent = m.text;
      const foot = document.createElement('div'); foot.className = 'foot';
      const code = document.createElement('code'); code.className = 'code'; code.textContent = m.code;
      const time = document.createElement('time'); time.dateTime = m.sentAt; time.textContent = m.sentAt.slice(11, 19);
      foot.append(code, time); li.append(meta, text, foot); list.append(li);
    }
  }
  setInterval(async () => {
    try {
      const response = await fetch(source, { cache: 'no-store' });
      const { messages } = await response.json();
      const newest = messages[0] ? messages[0].id : '';
      if (newest !== shown) { shown = newest; render(messages); }
    } catch {}
  }, 1500);
</script>
</body>
</html>`;
}
