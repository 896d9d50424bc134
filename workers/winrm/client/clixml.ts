/**
 * PowerShell CLIXML stderr cleanup, the pypsrp way (`sanitise_clixml`): keep only the `<S S="Error">`
 * strings, decode `_xHHHH_` escapes, tolerate several `<Objs>` documents and text before the marker,
 * and fall back to the raw text when it does not parse. Progress-only CLIXML cleans to ''.
 */
import { XMLValidator } from 'fast-xml-parser';

const MARKER = '#< CLIXML';

/** Decodes PowerShell's `_xHHHH_` escapes (one UTF-16 code unit each; `_x005F_` is a literal '_'). */
export function decodeClixmlEscapes(s: string): string {
  return s.replace(/_x([0-9A-Fa-f]{4})_/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

function decodeEntities(s: string): string {
  return s.replace(/&(?:#x([0-9a-fA-F]+)|#(\d+)|(lt|gt|amp|quot|apos));/g, (m, hex?: string, dec?: string, name?: string) => {
    if (hex) return String.fromCodePoint(parseInt(hex, 16));
    if (dec) return String.fromCodePoint(parseInt(dec, 10));
    return ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" } as Record<string, string>)[name ?? ''] ?? m;
  });
}

/**
 * Cleans PowerShell stderr. Without the `#< CLIXML` marker the text is returned unchanged. With it:
 * text before the marker is kept, each `<Objs>` document contributes its Error strings, text after
 * the last document is kept; any document that is not well-formed XML → the raw text.
 */
export function cleanClixml(stderr: string): string {
  const at = stderr.indexOf(MARKER);
  if (at < 0) return stderr;
  const before = stderr.slice(0, at);
  const rest = stderr.slice(at + MARKER.length).replace(/^\r?\n/, '');
  const docs = [...rest.matchAll(/<Objs\b[\s\S]*?<\/Objs>/g)];
  if (docs.length === 0) return stderr;
  let out = before;
  let last = 0;
  for (const d of docs) {
    out += framingFree(rest.slice(last, d.index));
    const xml = d[0];
    if (XMLValidator.validate(xml) !== true) return stderr;
    for (const m of xml.matchAll(/<S\s+S="Error"\s*(?:\/>|>([\s\S]*?)<\/S>)/g)) {
      out += decodeClixmlEscapes(decodeEntities(m[1] ?? ''));
    }
    last = d.index + xml.length;
  }
  out += framingFree(rest.slice(last));
  return out;
}

/** Text between documents minus the framing: further markers and bare line breaks are not output. */
function framingFree(text: string): string {
  const t = text.split(MARKER).join('');
  return t.trim() === '' ? '' : t;
}
