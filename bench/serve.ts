/**
 * Load benchmark of `ja-bert serve` (loopback only, bounded): requests/s and
 * p50/p99 latency at concurrency 1, 8 and 32 with dynamic batching on and off,
 * one man-page pair per POST /v1/classify, the default model, driven by
 * autocannon. The PyTorch peer in the same run is the same model shape's raw
 * forward (no HTTP, no tokenizer) at batch 1 and 32, in its best mode on this
 * CPU: the ceiling a server could approach.
 * Prints one JSON line per setting, then a one-line summary.
 *   node dist/bench/serve.js [--duration 10] [--connections 1,8,32] [--no-torch]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { benchDefaults, runBench, runTorchBench } from '../src/bench.js';
import { parseArgs } from '../src/commands/args.js';
import { engineInfo, nativeKernels, packageRoot } from '../src/core/native.js';
import { DEFAULT_MODEL } from '../src/model/default.js';
import { DEMO_DATA } from '../src/demo.js';

const { flags } = parseArgs(process.argv.slice(2), { duration: 'number', connections: 'string', 'no-torch': 'boolean' });
const duration = (flags.duration as number | undefined) ?? 10;
const levels = ((flags.connections as string | undefined) ?? '1,8,32').split(',').map(Number);
const root = packageRoot();

// real request bodies: the demo sample's pairs, one per request
const texts = JSON.parse(readFileSync(join(DEMO_DATA, 'honbun_data.json'), 'utf8')) as Record<string, string>;
const pairs = (JSON.parse(readFileSync(join(DEMO_DATA, 'negaposi.json'), 'utf8')) as Array<[string, string, number]>).slice(0, 256);
const bodies = pairs.map(([a, b]) => JSON.stringify({ inputs: [{ text: texts[a], text_b: texts[b] }] }));

async function startServe(batching: boolean): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(join(root, 'bin/ja-bert'), ['serve', '--port', '0', ...(batching ? [] : ['--no-batching'])], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); const m = /listening on (\S+)/.exec(err); if (m) resolve(m[1]!); });
    child.on('exit', (c) => reject(new Error(`serve exited ${c}: ${err}`)));
  });
  return { child, url };
}

async function load(url: string, connections: number): Promise<Record<string, number>> {
  let k = 0;
  const r = await autocannon({
    url, connections, duration, pipelining: 1,
    requests: [{ method: 'POST', path: '/v1/classify', headers: { 'content-type': 'application/json' }, setupRequest: (req: autocannon.Request) => ({ ...req, body: bodies[k++ % bodies.length] }) }],
  });
  return { requests_per_s: r.requests.average, latency_p50_ms: r.latency.p50, latency_p99_ms: r.latency.p99, requests: r.requests.total, errors: r.errors + r.non2xx, timeouts: r.timeouts };
}

const info = engineInfo();
const threads = info.threads;
const rows: Array<Record<string, unknown>> = [];
for (const batching of [true, false]) {
  const { child, url } = await startServe(batching);
  try {
    await load(url, 8); // warm-up: primitives created, pages touched
    for (const c of levels) {
      const r = { batching, connections: c, duration_s: duration, ...(await load(url, c)) };
      rows.push(r);
      console.log(JSON.stringify({ bench: 'serve', isa: info.isa, cap: info.cap || null, threads, ...r }));
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
  }
}
// the raw forward of the same shape: ja-bert and PyTorch, batch 1 and 32, at the demo pairs' typical length
const cfg = JSON.parse(readFileSync(join(DEFAULT_MODEL, 'config.json'), 'utf8')) as Record<string, number>;
const peer: Record<string, number> = {};
for (const batch of [1, 32]) {
  const o = benchDefaults({ mode: 'infer', layers: cfg.num_hidden_layers, hidden: cfg.hidden_size, heads: cfg.num_attention_heads, intermediate: cfg.intermediate_size,
    vocab: cfg.vocab_size, seq: 128, batch, dtype: 'auto', steps: batch === 1 ? 200 : 20, warmup: 3 });
  peer[`jabert_forward_pairs_per_s_b${batch}`] = runBench(o).tokens_per_s / 128;
  if (!flags['no-torch']) {
    const t = runTorchBench(o, threads, nativeKernels().autoDtype);
    peer[`torch_forward_pairs_per_s_b${batch}`] = t.tokens_per_s / 128;
    peer.torch_dtype_bf16 = t.dtype === 'bf16' ? 1 : 0;
  }
}
console.log(JSON.stringify({ bench: 'serve-peer', isa: info.isa, cap: info.cap || null, threads, seq: 128, ...peer }));
const rps = (b: boolean, c: number) => (rows.find((r) => r.batching === b && r.connections === c)?.requests_per_s as number | undefined) ?? NaN;
const top = Math.max(...levels), one = Math.min(...levels);
console.log(`summary: ${info.isa}${info.cap ? ` (cap ${info.cap})` : ''}, ${threads} threads, default model, 1 pair/request: batching ${levels.map((c) => `c${c} ${rps(true, c).toFixed(0)}`).join(' ')} req/s; `
  + `no batching ${levels.map((c) => `c${c} ${rps(false, c).toFixed(0)}`).join(' ')} req/s; c${top}/c${one} ${(rps(true, top) / rps(true, one)).toFixed(2)}x, batching/none at c${top} ${(rps(true, top) / rps(false, top)).toFixed(2)}x`
  + `; raw forward pairs/s b1/b32: ja-bert ${peer.jabert_forward_pairs_per_s_b1!.toFixed(0)}/${peer.jabert_forward_pairs_per_s_b32!.toFixed(0)}`
  + (peer.torch_forward_pairs_per_s_b1 ? `, torch ${peer.torch_forward_pairs_per_s_b1.toFixed(0)}/${peer.torch_forward_pairs_per_s_b32!.toFixed(0)}` : ''));
