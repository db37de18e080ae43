/**
 * Where does a JSON text stop being valid? V8's error messages do not always
 * carry a position, and users need a line number. A small recursive-descent
 * scanner that only finds the offset of the first error (or -1).
 */
export function jsonErrorOffset(s: string): number {
  const r = scan(s, false);
  return typeof r === 'number' ? r : -1;
}

/** the first key that appears twice in one object of a valid JSON text (JSON.parse silently keeps the last), or null */
export function jsonDuplicateKey(s: string): { key: string; line: number } | null {
  const r = scan(s, true);
  return typeof r === 'object' ? { key: r.key, line: s.slice(0, r.at).split('\n').length } : null;
}

/** the offset of the first error (-1: none), or with `keys` the first duplicate key */
function scan(s: string, keys: boolean): number | { key: string; at: number } {
  let i = 0;
  const ws = () => { while (i < s.length && ' \t\n\r'.includes(s[i]!)) i++; };
  const fail = (): never => { throw i; };
  const lit = (w: string) => { if (s.startsWith(w, i)) i += w.length; else fail(); };
  const str = () => {
    i++; // opening quote
    while (i < s.length && s[i] !== '"') {
      const c = s.charCodeAt(i);
      if (c < 0x20) fail();
      if (s[i] === '\\') {
        i++;
        if (s[i] === 'u') { if (!/^[0-9a-fA-F]{4}$/.test(s.slice(i + 1, i + 5))) fail(); i += 5; }
        else if ('"\\/bfnrt'.includes(s[i] ?? 'x')) i++;
        else fail();
      } else i++;
    }
    if (i >= s.length) fail();
    i++;
  };
  const num = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(s.slice(i, i + 400));
    if (!m || m[0] === '' || m[0] === '-') fail();
    i += m![0].length;
  };
  const value = (): void => {
    ws();
    const c = s[i];
    if (c === '{') {
      i++; ws();
      if (s[i] === '}') { i++; return; }
      const seen = keys ? new Set<string>() : null;
      for (;;) {
        ws();
        if (s[i] !== '"') fail();
        const at = i;
        str();
        if (seen) {
          const k = JSON.parse(s.slice(at, i)) as string;
          if (seen.has(k)) throw { key: k, at };
          seen.add(k);
        }
        ws();
        if (s[i] !== ':') fail();
        i++; value(); ws();
        if (s[i] === ',') { i++; continue; }
        if (s[i] === '}') { i++; return; }
        fail();
      }
    } else if (c === '[') {
      i++; ws();
      if (s[i] === ']') { i++; return; }
      for (;;) {
        value(); ws();
        if (s[i] === ',') { i++; continue; }
        if (s[i] === ']') { i++; return; }
        fail();
      }
    } else if (c === '"') str();
    else if (c === 't') lit('true');
    else if (c === 'f') lit('false');
    else if (c === 'n') lit('null');
    else num();
  };
  try {
    value(); ws();
    return i < s.length ? i : -1;
  } catch (pos) {
    if (typeof pos === 'number') return pos;
    if (pos && typeof pos === 'object' && 'key' in pos) return pos as { key: string; at: number };
    return keys ? -1 : 0; // nesting too deep for this scanner
  }
}

/** "file:line: not valid JSON (...)" for a parse error */
export function jsonErrorWhere(text: string): number | undefined {
  const off = jsonErrorOffset(text);
  return off < 0 ? undefined : text.slice(0, off).split('\n').length;
}
