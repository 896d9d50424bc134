/**
 * Namespace-aware XML reading for the WinRM test server. Windows resolves prefixes, so the server must too:
 * every element and attribute is identified by (namespace URI, local name), never by its prefix.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';

/** One element with its namespace resolved. */
export interface XmlElement {
  ns: string;
  name: string;
  /** Attributes by local name (namespace ignored: WS-Man attributes are unqualified or unambiguous). */
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Concatenated direct text content, untrimmed. */
  text: string;
}

// processEntities + htmlEntities decode the five XML entities and numeric character references.
const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: true,
  htmlEntities: true,
});

type OrderedNode = Record<string, unknown> & { ':@'?: Record<string, string> };

/** Parses a document; throws on malformed XML (the server answers 400). */
export function parseXml(xml: string): XmlElement {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new Error(`malformed XML: ${valid.err.msg}`);
  const nodes = parser.parse(xml) as OrderedNode[];
  for (const node of nodes) {
    const el = toElement(node, new Map());
    if (el) return el;
  }
  throw new Error('malformed XML: no root element');
}

function toElement(node: OrderedNode, scope: Map<string, string>): XmlElement | null {
  const tag = Object.keys(node).find((k) => k !== ':@' && k !== '#text');
  if (!tag || tag.startsWith('?')) return null;
  const rawAttrs = node[':@'] ?? {};
  const local = new Map(scope);
  for (const [k, v] of Object.entries(rawAttrs)) {
    if (k === 'xmlns') local.set('', v);
    else if (k.startsWith('xmlns:')) local.set(k.slice(6), v);
  }
  const [prefix, name] = splitName(tag);
  const ns = local.get(prefix);
  if (ns === undefined) throw new Error(`malformed XML: unbound prefix '${prefix}'`);
  const attrs: Record<string, string> = {};
  for (const [k, v] of Object.entries(rawAttrs)) {
    if (k === 'xmlns' || k.startsWith('xmlns:')) continue;
    attrs[splitName(k)[1]] = v;
  }
  const el: XmlElement = { ns, name, attrs, children: [], text: '' };
  for (const child of (node[tag] as OrderedNode[]) ?? []) {
    if ('#text' in child) el.text += String(child['#text']);
    else {
      const c = toElement(child, local);
      if (c) el.children.push(c);
    }
  }
  return el;
}

function splitName(qname: string): [string, string] {
  const i = qname.indexOf(':');
  return i < 0 ? ['', qname] : [qname.slice(0, i), qname.slice(i + 1)];
}

/** First child with this namespace and local name. */
export function child(el: XmlElement | undefined, ns: string, name: string): XmlElement | undefined {
  return el?.children.find((c) => c.ns === ns && c.name === name);
}

/** All children with this namespace and local name. */
export function childrenOf(el: XmlElement | undefined, ns: string, name: string): XmlElement[] {
  return el ? el.children.filter((c) => c.ns === ns && c.name === name) : [];
}

/** Escapes text for element content and double-quoted attributes. */
export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
