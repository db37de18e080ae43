/** `ja-bert export` */
import { exportModel, type ExportOptions } from '../export/export.js';
import { modelOrDefault } from '../model/default.js';
import { nativeKernels } from '../core/native.js';
import { type Command, need, flagOptions } from './command.js';

export const command: Command = {
  name: 'export',
  help: `  ja-bert export [--model DIR] --output OUT [--format onnx|hf --quantize none|int8 --opset 17 --task text-classification|fill-mask|feature-extraction --lowercase --overwrite]
      onnx (default): transformers.js' layout (config.json, tokenizer.json, tokenizer_config.json, special_tokens_map.json,
      onnx/model.onnx, onnx/model_quantized.onnx with --quantize int8), which onnxruntime and transformers.js load offline;
      hf: config.json + model.safetensors + the tokenizer files. Inputs input_ids, attention_mask, token_type_ids; output logits
      (the classifier, or the default model's next-sentence head), or last_hidden_state + pooler_output for pair-head models,
      whose head goes to pair_head.safetensors + pair_head.json. MeCab tokenizers export vocab.txt + tokenizer_config.json
      (tokenizer.json cannot express MeCab).`,
  api: 'exportModel',
  flags: { model: 'string', output: 'string', format: 'string', quantize: 'string', opset: 'number', task: 'string', lowercase: 'boolean', overwrite: 'boolean' },
  job: 'exportModel',
  run({ flags, log, version }) {
    const r = exportModel({ ...flagOptions(flags), model: modelOrDefault(flags.model as string | undefined), output: need(flags, 'output'), kernels: nativeKernels(), version, log } as ExportOptions);
    const mb = (n: number | null) => (n === null ? '' : ` (${(n / 1e6).toFixed(1)} MB)`);
    console.log(`exported ${r.task}${r.labels.length ? ` [${r.labels.join(', ')}]` : ''} -> ${r.output}\n${r.files.map((f) => `  ${f}${f === 'onnx/model.onnx' ? mb(r.onnxBytes) : f === 'onnx/model_quantized.onnx' ? mb(r.quantizedBytes) : ''}`).join('\n')}`);
    return 0;
  },
};
