/**
 * One-line notes to the user that are not errors (a model that expects input prepared in a way this input is not): each
 * said once per process, on stderr as `ja-bert: note: …` unless a library user routes them elsewhere.
 */
let handler: (line: string) => void = (line) => process.stderr.write(`ja-bert: note: ${line}\n`);
const said = new Set<string>();

/** say `line` once for `key` */
export function notice(key: string, line: string): void {
  if (said.has(key)) return;
  said.add(key);
  handler(line);
}

/** where notes go (a library user's logger); returns the previous handler */
export function setNoticeHandler(h: (line: string) => void): (line: string) => void {
  const prev = handler;
  handler = h;
  return prev;
}
