/**
 * Models named by Hugging Face Hub id: `org/name[@revision]` resolves, as `from_pretrained('org/name')` does,
 * from the local Hugging Face cache first and then, where allowed, from the Hub, writing into the same cache
 * layout huggingface_hub writes (so either tool reuses the other's downloads):
 *
 *   $HF_HUB_CACHE (default $HF_HOME/hub, $HF_HOME default ~/.cache/huggingface)
 *     models--org--name/refs/<revision>            the commit the revision (a branch or tag) pointed at
 *     models--org--name/blobs/<etag>               each file once, by its ETag (an LFS file's is its SHA-256)
 *     models--org--name/snapshots/<commit>/<file>  a relative link to its blob
 *
 * Downloads go through `{HF_ENDPOINT}/{repo}/resolve/{revision}/{file}` (default endpoint https://huggingface.co),
 * file by file and only the files a model needs: config.json, the weights in the preferred format
 * (model.safetensors, else pytorch_model.bin) and whichever tokenizer files exist (a 404 on an optional file is
 * normal; the listing API is not used). HF_TOKEN is sent for gated and private models; HF_HUB_OFFLINE=1 never
 * connects. A file is written to blobs/<etag>.incomplete, resumed with a Range request after an interruption,
 * checked (its size, and an LFS file's SHA-256) and only then renamed and linked: a snapshot never holds half a file.
 *
 * The lookup in the cache is synchronous (findModelFiles uses it, so every command takes a cached id); the
 * download is asynchronous (the CLI and the async library resolve an id before they load).
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { JaBertError, registerError } from '../core/errors.js';
import { Progress } from '../core/progress.js';
import { writeFileAtomic } from './atomic.js';

export class HubError extends JaBertError { override readonly code = 'ERR_JA_BERT_HUB'; }
registerError(HubError);

/** the files a model folder may need besides config.json and its weights; each is fetched when the repository has it */
export const HUB_OPTIONAL_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt', 'spiece.model', 'sentencepiece.bpe.model', 'added_tokens.json',
  // sentence-transformers folders (embedding models): the pooling and normalisation they declare
  'modules.json', '1_Pooling/config.json', 'sentence_bert_config.json'];
/** the weights, in the order they are preferred */
export const HUB_WEIGHTS = ['model.safetensors', 'pytorch_model.bin'];

const ID = /^([A-Za-z0-9][A-Za-z0-9_.-]*)\/([A-Za-z0-9][A-Za-z0-9_.-]*)(?:@([A-Za-z0-9_./-]+))?$/;

/** `org/name[@revision]` → its parts, or null when `s` is not a hub id or names an existing local path (a local path wins, as in transformers) */
export function parseHubId(s: string): { repo: string; revision: string } | null {
  if (existsSync(s)) return null;
  const m = ID.exec(s);
  if (!m || m[1] === '.' || m[1] === '..' || m[2] === '.' || m[2] === '..' || m[3]?.split('/').some((p) => p === '..' || p === '')) return null;
  return { repo: `${m[1]}/${m[2]}`, revision: m[3] ?? 'main' };
}

/** the Hugging Face hub cache folder: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub */
export function hubCacheDir(): string {
  return process.env.HF_HUB_CACHE || join(process.env.HF_HOME || join(homedir(), '.cache', 'huggingface'), 'hub');
}

const repoDir = (repo: string) => join(hubCacheDir(), `models--${repo.replace('/', '--')}`);
const isCommit = (rev: string) => /^[0-9a-f]{40}$/.test(rev);
const offline = () => ['1', 'ON', 'YES', 'TRUE'].includes((process.env.HF_HUB_OFFLINE ?? '').toUpperCase());

/** the cached snapshot folder of an id (with its config.json and weights), or null */
export function cachedSnapshot(id: string): string | null {
  const h = parseHubId(id);
  if (!h) return null;
  const dir = repoDir(h.repo);
  let commit = h.revision;
  if (!isCommit(commit)) {
    const ref = join(dir, 'refs', h.revision);
    if (!existsSync(ref)) return null;
    commit = readFileSync(ref, 'utf8').trim();
    if (!isCommit(commit)) return null;
  }
  const snap = join(dir, 'snapshots', commit);
  return existsSync(join(snap, 'config.json')) && HUB_WEIGHTS.some((w) => existsSync(join(snap, w))) ? snap : null;
}

/** a hub id as a local folder, from the cache only (the synchronous path: every loader takes a cached id) */
export function resolveCachedModel(path: string): string {
  const h = parseHubId(path);
  if (!h) return path;
  const snap = cachedSnapshot(path);
  if (snap) return snap;
  throw new HubError(`${path}: not a local folder, and not in the Hugging Face cache (${hubCacheDir()}); the ja-bert CLI and the async library download it (HF_ENDPOINT), or run huggingface-cli download ${h.repo}`);
}

export interface HubOptions {
  /** default HF_ENDPOINT, else https://huggingface.co */
  endpoint?: string;
  /** default HF_TOKEN */
  token?: string;
  log?: (line: string) => void;
}

/** a local folder for `path`: itself; or, for a hub id, its cached snapshot, downloading what is missing unless HF_HUB_OFFLINE=1 */
export async function resolveModel(path: string, o: HubOptions = {}): Promise<string> {
  const h = parseHubId(path);
  if (!h) return path;
  const snap = cachedSnapshot(path);
  if (snap) return snap;
  if (offline()) throw new HubError(`${path}: not in the Hugging Face cache (${hubCacheDir()}) and HF_HUB_OFFLINE=1 forbids downloading it`);
  return downloadModel(h.repo, h.revision, o);
}

interface Meta { commit: string; etag: string; size: number | null; url: string }

function normEtag(e: string | null): string | null {
  return e ? e.replace(/^W\//, '').replace(/^"|"$/g, '') : null;
}

async function fetchOr(endpoint: string, url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string; errors?: Array<{ code?: string }> } }).cause;
    throw new HubError(`cannot reach ${endpoint} (${cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? (e as Error).message}) and the model is not in the Hugging Face cache (${hubCacheDir()}); HF_ENDPOINT names the Hub`);
  }
}

/** HEAD without following an LFS redirect (its headers carry the ETag and size); relative redirects (a renamed repository) are followed */
async function head(endpoint: string, repo: string, revision: string, file: string, headers: Record<string, string>): Promise<Meta | null> {
  let url = `${endpoint}/${repo}/resolve/${encodeURIComponent(revision).replace(/%2F/g, '/')}/${file}`;
  for (let hop = 0; hop < 5; hop++) {
    const r = await fetchOr(endpoint, url, { method: 'HEAD', headers, redirect: 'manual' });
    if (r.status === 404) return null;
    if (r.status === 401 || r.status === 403) {
      throw new HubError(`${repo}: ${r.status} ${r.status === 401 ? 'Unauthorized' : 'Forbidden'} from ${endpoint}: a gated or private model${headers.authorization ? ' this HF_TOKEN may not read' : ' (set HF_TOKEN to a token that may read it)'}`);
    }
    const loc = r.headers.get('location');
    const commit = r.headers.get('x-repo-commit') ?? '';
    if (r.status >= 300 && r.status < 400 && loc) {
      const linked = normEtag(r.headers.get('x-linked-etag'));
      if (linked) {
        const size = Number(r.headers.get('x-linked-size'));
        return { commit, etag: linked, size: Number.isFinite(size) && size >= 0 ? size : null, url: new URL(loc, url).toString() };
      }
      url = new URL(loc, url).toString();
      continue;
    }
    if (!r.ok) throw new HubError(`${repo}/${file}: HTTP ${r.status} from ${endpoint}`);
    const etag = normEtag(r.headers.get('x-linked-etag') ?? r.headers.get('etag'));
    if (!etag) throw new HubError(`${repo}/${file}: ${endpoint} sent no ETag; is HF_ENDPOINT a Hugging Face Hub?`);
    const size = Number(r.headers.get('x-linked-size') ?? r.headers.get('content-length'));
    return { commit, etag, size: Number.isFinite(size) && size >= 0 ? size : null, url };
  }
  throw new HubError(`${repo}/${file}: too many redirects from ${endpoint}`);
}

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** one file into blobs/<etag> (resumed from blobs/<etag>.incomplete), checked, then linked into the snapshot */
async function fetchFile(repo: string, file: string, m: Meta, headers: Record<string, string>, endpoint: string, log?: (l: string) => void): Promise<void> {
  const dir = repoDir(repo);
  const blob = join(dir, 'blobs', m.etag), part = `${blob}.incomplete`;
  mkdirSync(join(dir, 'blobs'), { recursive: true });
  if (!existsSync(blob)) {
    const have = existsSync(part) ? statSync(part).size : 0;
    const r = await fetchOr(endpoint, m.url, { headers: { ...headers, ...(have > 0 ? { range: `bytes=${have}-` } : {}) } });
    if (!r.ok || !r.body) throw new HubError(`${repo}/${file}: HTTP ${r.status} while downloading from ${endpoint}`);
    const resumed = have > 0 && r.status === 206;
    const fd = openSync(part, resumed ? 'a' : 'w');
    const bar = new Progress(log, `download ${file}`, m.size ?? 0, 'bytes');
    try {
      let got = resumed ? have : 0;
      for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
        writeSync(fd, chunk);
        got += chunk.length;
        if (m.size) bar.update(got);
      }
      if (m.size !== null && fstatSync(fd).size !== m.size) throw new HubError(`${repo}/${file}: the download ended at ${fstatSync(fd).size} of ${m.size} bytes; run again to resume it`);
    } finally { closeSync(fd); }
    // an LFS file's ETag is its SHA-256: a blob that does not hash to it is thrown away, never linked
    if (/^[0-9a-f]{64}$/.test(m.etag)) {
      const got = await sha256(part);
      if (got !== m.etag) { rmSync(part, { force: true }); throw new HubError(`${repo}/${file}: the downloaded file's SHA-256 ${got} is not its ETag ${m.etag}; it was removed, run again`); }
    }
    renameSync(part, blob);
  }
  const snap = join(dir, 'snapshots', m.commit);
  mkdirSync(join(snap, ...file.split('/').slice(0, -1)), { recursive: true });
  const link = join(snap, file);
  if (!existsSync(link)) {
    rmSync(link, { force: true }); // a dangling link left behind
    symlinkSync(join('..', '..', ...file.split('/').slice(0, -1).map(() => '..'), 'blobs', m.etag), link);
  }
}

/** download a model's files into the hub cache; returns its snapshot folder */
export async function downloadModel(repo: string, revision: string, o: HubOptions = {}): Promise<string> {
  const endpoint = (o.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
  const token = o.token ?? process.env.HF_TOKEN ?? process.env.HUGGING_FACE_HUB_TOKEN;
  const headers: Record<string, string> = { 'user-agent': 'ja-bert', ...(token ? { authorization: `Bearer ${token}` } : {}) };
  const config = await head(endpoint, repo, revision, 'config.json', headers);
  if (!config) throw new HubError(`${repo}${revision !== 'main' ? `@${revision}` : ''}: not a local folder, and no such model or revision on ${endpoint} (404 for config.json)`);
  const commit = config.commit || (isCommit(revision) ? revision : '');
  if (!isCommit(commit)) throw new HubError(`${repo}: ${endpoint} did not name the commit (x-repo-commit); is HF_ENDPOINT a Hugging Face Hub?`);
  // every file of one snapshot: pinned to the commit config.json came from
  const files: Array<[string, Meta]> = [['config.json', { ...config, commit }]];
  let weights: Meta | null = null;
  for (const w of HUB_WEIGHTS) {
    weights = await head(endpoint, repo, commit, w, headers);
    if (weights) { files.push([w, { ...weights, commit }]); break; }
  }
  if (!weights) throw new HubError(`${repo}@${commit.slice(0, 12)}: no ${HUB_WEIGHTS.join(' or ')} on ${endpoint} (sharded or TensorFlow-only weights are not read)`);
  for (const f of HUB_OPTIONAL_FILES) {
    const m = await head(endpoint, repo, commit, f, headers);
    if (m) files.push([f, { ...m, commit }]);
  }
  o.log?.(`downloading ${repo}@${commit.slice(0, 12)} from ${endpoint}: ${files.map(([f]) => f).join(', ')} -> ${repoDir(repo)}`);
  for (const [f, m] of files) await fetchFile(repo, f, m, headers, endpoint, o.log);
  if (!isCommit(revision)) {
    mkdirSync(join(repoDir(repo), 'refs', ...revision.split('/').slice(0, -1)), { recursive: true });
    writeFileAtomic(join(repoDir(repo), 'refs', revision), (w) => w(commit));
  }
  return join(repoDir(repo), 'snapshots', commit);
}
