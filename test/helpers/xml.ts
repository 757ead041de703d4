/**
 * A strict parser for the XML subset hand-written SVG uses (elements, quoted attributes, text,
 * the five predefined entities and numeric references; no DTD, CDATA or processing instructions).
 * It throws on anything not well-formed (XML 1.0 §2.1): a tag closed out of order, an unquoted or
 * repeated attribute, a bare `<` or `&` in text, content after the root element. No dependency.
 */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** the element's own text (children's text not included), entities decoded */
  text: string;
}

const NAME = /^[A-Za-z_:][\w.:-]*/;
const ENTITY: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(s: string, where: number): string {
  if (s.includes('<')) throw new Error(`xml: bare '<' near offset ${where}`);
  return s.replace(/&([^;\s&]*);?/g, (m, ref: string) => {
    if (!m.endsWith(';')) throw new Error(`xml: bare '&' near offset ${where}`);
    if (ref in ENTITY) return ENTITY[ref]!;
    const code = /^#x([0-9a-f]+)$/i.exec(ref) ? parseInt(ref.slice(2), 16) : /^#(\d+)$/.exec(ref) ? Number(ref.slice(1)) : NaN;
    if (!Number.isInteger(code)) throw new Error(`xml: unknown entity &${ref}; near offset ${where}`);
    return String.fromCodePoint(code);
  });
}

export function parseXml(src: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  while (i < src.length) {
    const lt = src.indexOf('<', i);
    const text = src.slice(i, lt < 0 ? src.length : lt);
    if (text.trim() !== '') {
      const top = stack[stack.length - 1];
      if (!top) throw new Error(`xml: text outside the root element at offset ${i}`);
      top.text += decode(text, i);
    }
    if (lt < 0) break;
    i = lt;
    if (src.startsWith('</', i)) {
      const m = /^<\/([A-Za-z_:][\w.:-]*)\s*>/.exec(src.slice(i));
      const open = stack.pop();
      if (!m || !open || open.name !== m[1]) throw new Error(`xml: unexpected closing tag at offset ${i}`);
      i += m[0].length;
      continue;
    }
    const name = NAME.exec(src.slice(i + 1))?.[0];
    if (!name) throw new Error(`xml: bad tag at offset ${i}`);
    if (root && stack.length === 0) throw new Error(`xml: second root element <${name}> at offset ${i}`);
    const el: XmlElement = { name, attrs: {}, children: [], text: '' };
    i += 1 + name.length;
    for (;;) {
      const rest = src.slice(i);
      const ws = /^\s*/.exec(rest)![0].length;
      const after = rest.slice(ws);
      if (after.startsWith('/>') || after.startsWith('>')) {
        i += ws + (after.startsWith('/>') ? 2 : 1);
        stack[stack.length - 1]?.children.push(el);
        root ??= el;
        if (!after.startsWith('/>')) stack.push(el);
        break;
      }
      const m = /^([A-Za-z_:][\w.:-]*)\s*=\s*("([^"<]*)"|'([^'<]*)')/.exec(after);
      if (ws === 0 || !m) throw new Error(`xml: bad attribute in <${name}> at offset ${i}`);
      if (m[1]! in el.attrs) throw new Error(`xml: attribute ${m[1]} repeated in <${name}>`);
      el.attrs[m[1]!] = decode(m[3] ?? m[4] ?? '', i);
      i += ws + m[0].length;
    }
  }
  if (!root) throw new Error('xml: no root element');
  if (stack.length > 0) throw new Error(`xml: <${stack[stack.length - 1]!.name}> not closed`);
  return root;
}

/** every element below `el` (depth first) for which `pred` holds. */
export function findAll(el: XmlElement, pred: (e: XmlElement) => boolean): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement): void => {
    for (const c of e.children) {
      if (pred(c)) out.push(c);
      walk(c);
    }
  };
  walk(el);
  return out;
}
