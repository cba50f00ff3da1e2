// The part of Markdown that problem statements use, rendered to DOM nodes (never to an
// HTML string): headings, paragraphs, lists, fenced code, `code`, **bold**, *italic*
// and http(s) links.
import { h } from '/static/ui.js';

export function markdown(src) {
  const out = [];
  const lines = src.replace(/\r\n?/g, '\n').split('\n');
  let para = [];
  let list = null;
  const flush = () => {
    if (para.length) out.push(h('p', null, inline(para.join(' '))));
    para = [];
    list = null;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    let m;
    if (/^```/.test(line)) {
      flush();
      const code = [];
      for (i++; i < lines.length && !/^```/.test(lines[i]); i++) code.push(lines[i]);
      out.push(h('pre', null, h('code', null, code.join('\n'))));
    } else if ((m = /^(#{1,6})\s+(.*)$/.exec(line))) {
      flush();
      out.push(h('h' + Math.min(m[1].length + 1, 6), null, inline(m[2])));
    } else if ((m = /^\s*(?:[-*+]|(\d+)\.)\s+(.*)$/.exec(line))) {
      if (para.length) flush();
      const tag = m[1] ? 'ol' : 'ul';
      if (!list || list.tagName.toLowerCase() !== tag) {
        list = h(tag);
        out.push(list);
      }
      list.append(h('li', null, inline(m[2])));
    } else if (!line.trim()) {
      flush();
    } else {
      list = null;
      para.push(line.trim());
    }
  }
  flush();
  return out;
}

const INLINE = /`([^`]+)`|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*|\[([^\]]+)\]\((https?:[^)\s]+)\)/g;

function inline(text) {
  const parts = [];
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) parts.push(text.slice(last, m.index));
    if (m[1] != null) parts.push(h('code', null, m[1]));
    else if (m[2] != null) parts.push(h('strong', null, m[2]));
    else if (m[3] != null) parts.push(h('em', null, m[3]));
    else parts.push(h('a', { href: m[5], rel: 'noopener noreferrer', target: '_blank' }, m[4]));
    last = m.index + m[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}
