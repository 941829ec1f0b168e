import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor, manualSeed, noGrad, randn, tensor, tidy, nn } from '../torch/index.ts';
import { loadSafetensors, saveSafetensors } from '../torch/serialization/serialization.ts';
import { PickleWriter, buildPtArchive, writeTensor } from '../torch/serialization/pt-test-archive.ts';
import { CLIP } from './model.ts';
import type { ClipConfig } from './config.ts';
import { loadClip, loadClipStateDict, readClipWeights } from './load.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

const TINY: ClipConfig = {
  embed_dim: 16,
  image_resolution: 16,
  vision_layers: 2,
  vision_width: 64,
  vision_patch_size: 8,
  context_length: 10,
  vocab_size: 40,
  transformer_width: 64,
  transformer_heads: 4,
  transformer_layers: 2,
  vision_heads: 4,
};
const TINY_RESNET: ClipConfig = {
  embed_dim: 16,
  image_resolution: 64,
  vision_layers: [1, 1, 2, 1],
  vision_width: 8,
  vision_patch_size: null,
  context_length: 10,
  vocab_size: 40,
  transformer_width: 64,
  transformer_heads: 1,
  transformer_layers: 1,
};

function withTempDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'clip-load-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function disposeModel(model: nn.Module): void {
  for (const t of model.stateDict().values()) t.dispose();
}

function textTokens(contextLength: number, vocab: number): Tensor {
  return tensor(
    [
      [0, 5, 9, vocab - 1, ...new Array(contextLength - 4).fill(0)],
      [0, 3, 2, 7, 11, vocab - 1, ...new Array(contextLength - 6).fill(0)],
    ],
    { dtype: 'int64' },
  );
}

/** Image and text outputs of a model on fixed inputs, as plain arrays. */
function outputsOf(model: CLIP, seed = 21): number[][] {
  model.eval();
  return tidy(() =>
    noGrad(() => {
      manualSeed(seed);
      const c = model.config;
      const image = model.encodeImage(randn([2, 3, c.image_resolution, c.image_resolution]));
      const { cls, tokens } = model.encodeText(textTokens(c.context_length, c.vocab_size));
      return [image.toArray(), cls.toArray(), tokens.toArray()];
    }),
  );
}

function maxDifference(a: number[][], b: number[][]): number {
  let max = 0;
  a.forEach((row, i) => row.forEach((v, j) => (max = Math.max(max, Math.abs(v - b[i]![j]!)))));
  return max;
}

/** Hugging Face `CLIPModel` names for an OpenAI-layout ViT state dict, written out here independently of the loader. */
function toHuggingFace(state: Map<string, Tensor>, layers: { text: number; vision: number }): Map<string, Tensor> {
  const hf = new Map<string, Tensor>();
  const get = (k: string) => {
    const t = state.get(k);
    if (!t) throw new Error(`test: no ${k}`);
    return t;
  };
  const tower = (from: string, to: string, count: number) => {
    for (let i = 0; i < count; i++) {
      const a = `${from}resblocks.${i}.`;
      const b = `${to}.encoder.layers.${i}.`;
      const width = get(`${a}ln_1.weight`).size(0);
      ['q', 'k', 'v'].forEach((name, j) => {
        hf.set(
          `${b}self_attn.${name}_proj.weight`,
          get(`${a}attn.in_proj_weight`)
            .narrow(0, j * width, width)
            .contiguous(),
        );
        hf.set(
          `${b}self_attn.${name}_proj.bias`,
          get(`${a}attn.in_proj_bias`)
            .narrow(0, j * width, width)
            .contiguous(),
        );
      });
      for (const p of ['weight', 'bias']) {
        hf.set(`${b}self_attn.out_proj.${p}`, get(`${a}attn.out_proj.${p}`));
        hf.set(`${b}layer_norm1.${p}`, get(`${a}ln_1.${p}`));
        hf.set(`${b}layer_norm2.${p}`, get(`${a}ln_2.${p}`));
        hf.set(`${b}mlp.fc1.${p}`, get(`${a}mlp.c_fc.${p}`));
        hf.set(`${b}mlp.fc2.${p}`, get(`${a}mlp.c_proj.${p}`));
      }
    }
  };
  tower('transformer.', 'text_model', layers.text);
  tower('visual.transformer.', 'vision_model', layers.vision);
  hf.set('text_model.embeddings.token_embedding.weight', get('token_embedding.weight'));
  hf.set('text_model.embeddings.position_embedding.weight', get('positional_embedding'));
  hf.set('text_model.embeddings.position_ids', tensor([[0, 1, 2]], { dtype: 'int64' }));
  hf.set('text_model.final_layer_norm.weight', get('ln_final.weight'));
  hf.set('text_model.final_layer_norm.bias', get('ln_final.bias'));
  hf.set('text_projection.weight', get('text_projection').t().contiguous());
  hf.set('vision_model.embeddings.class_embedding', get('visual.class_embedding'));
  hf.set('vision_model.embeddings.patch_embedding.weight', get('visual.conv1.weight'));
  hf.set('vision_model.embeddings.position_embedding.weight', get('visual.positional_embedding'));
  hf.set('vision_model.embeddings.position_ids', tensor([[0, 1]], { dtype: 'int64' }));
  hf.set('vision_model.pre_layrnorm.weight', get('visual.ln_pre.weight'));
  hf.set('vision_model.pre_layrnorm.bias', get('visual.ln_pre.bias'));
  hf.set('vision_model.post_layernorm.weight', get('visual.ln_post.weight'));
  hf.set('vision_model.post_layernorm.bias', get('visual.ln_post.bias'));
  hf.set('visual_projection.weight', get('visual.proj').t().contiguous());
  hf.set('logit_scale', get('logit_scale'));
  return hf;
}

const HF_CONFIG = {
  architectures: ['CLIPModel'],
  projection_dim: 16,
  text_config: {
    hidden_size: 64,
    num_attention_heads: 4,
    num_hidden_layers: 2,
    hidden_act: 'quick_gelu',
    layer_norm_eps: 1e-5,
  },
  vision_config: {
    hidden_size: 64,
    num_attention_heads: 4,
    num_hidden_layers: 2,
    patch_size: 8,
    image_size: 16,
    hidden_act: 'quick_gelu',
  },
};

test('a Hugging Face CLIPModel folder round-trips into the same outputs (q/k/v merged, projections transposed, heads from config.json)', () => {
  manualSeed(20);
  const model = noGrad(() => new CLIP(TINY));
  // Perturb LayerNorms and biases so that a mix-up of names shows in the outputs.
  noGrad(() => {
    for (const p of model.parameters()) if (p.ndim === 1) p.add_(randn(p.shape).mul(0.1));
  });
  const expected = outputsOf(model);
  withTempDir((dir) => {
    const folder = path.join(dir, 'clip-hf');
    mkdirSync(folder);
    saveSafetensors(path.join(folder, 'model.safetensors'), toHuggingFace(model.stateDict(), { text: 2, vision: 2 }));
    writeFileSync(path.join(folder, 'config.json'), JSON.stringify(HF_CONFIG));
    const loaded = loadClip(folder);
    assert.equal(loaded.format, 'huggingface');
    assert.equal(loaded.config.transformer_heads, 4);
    assert.equal(loaded.config.vision_heads, 4);
    assert.equal(maxDifference(outputsOf(loaded.model), expected), 0);
    disposeModel(loaded.model);

    // Without the head counts, the original's width // 64 rule applies and the outputs change.
    writeFileSync(path.join(folder, 'config.json'), JSON.stringify({ text_config: {}, vision_config: {} }));
    const defaults = loadClip(folder);
    assert.equal(defaults.config.transformer_heads, 1);
    assert.ok(maxDifference(outputsOf(defaults.model), expected) > 1e-4);
    disposeModel(defaults.model);
  });
  disposeModel(model);
});

test('Hugging Face weights with unknown names, split projections missing or another activation are refused by name', () => {
  manualSeed(22);
  const model = noGrad(() => new CLIP(TINY));
  withTempDir((dir) => {
    const hf = toHuggingFace(model.stateDict(), { text: 2, vision: 2 });
    const file = path.join(dir, 'model.safetensors');
    saveSafetensors(file, new Map([...hf, ['text_model.encoder.layers.0.adapter.weight', tensor([1])]]));
    assert.throws(
      () => readClipWeights(file),
      (e: Error) =>
        e.message.includes(file) &&
        /no OpenAI counterpart: text_model\.encoder\.layers\.0\.adapter\.weight/.test(e.message),
    );
    const withoutV = new Map(hf);
    withoutV.delete('vision_model.encoder.layers.1.self_attn.v_proj.bias');
    saveSafetensors(file, withoutV);
    assert.throws(() => readClipWeights(file), /visual\.transformer\.resblocks\.1\.attn\.in_proj_bias lacks v_proj/);
    saveSafetensors(file, hf);
    writeFileSync(
      path.join(dir, 'config.json'),
      JSON.stringify({ ...HF_CONFIG, vision_config: { ...HF_CONFIG.vision_config, hidden_act: 'gelu' } }),
    );
    assert.throws(
      () => readClipWeights(file),
      /config\.json: vision_config\.hidden_act is "gelu"; this CLIP implements OpenAI's "quick_gelu" only/,
    );
  });
  disposeModel(model);
});

/** A torch.save zip of `{epoch, model_state_dict, fusion_model_state_dict}` with DDP's `module.` prefixes. */
function bikeCheckpointBytes(model: Map<string, Tensor>, fusion: Map<string, Tensor>, epoch: number): Uint8Array {
  const storages: Record<string, Uint8Array> = {};
  const p = new PickleWriter().proto().emptyDict().mark();
  const dict = (state: Map<string, Tensor>) => {
    p.global('collections', 'OrderedDict').emptyTuple().reduce().mark();
    for (const [name, t] of state) {
      const key = String(Object.keys(storages).length);
      const raw = t.contiguous().toRaw();
      storages[key] = raw.data;
      const stride = raw.shape.map((_, i) => raw.shape.slice(i + 1).reduce((a, b) => a * b, 1));
      const storageClass = raw.dtype === 'int64' ? 'LongStorage' : 'FloatStorage';
      writeTensor(p.binunicode(`module.${name}`), {
        storageClass,
        key,
        storageNumel: t.numel,
        offset: 0,
        shape: raw.shape,
        stride,
      });
    }
    p.setitems();
  };
  p.binunicode('epoch').int(epoch);
  p.binunicode('model_state_dict');
  dict(model);
  p.binunicode('fusion_model_state_dict');
  dict(fusion);
  p.setitems().stop();
  return buildPtArchive(p.bytes(), storages);
}

test('a DDP-saved BIKE checkpoint loads with module. prefixes stripped and returns the fusion state dict', () => {
  manualSeed(23);
  const model = noGrad(() => new CLIP(TINY_RESNET));
  noGrad(() => {
    for (const [name, b] of model.namedBuffers())
      if (name.endsWith('running_var')) b.copy_(randn(b.shape).abs().add(0.5));
  });
  const expected = outputsOf(model);
  withTempDir((dir) => {
    const file = path.join(dir, 'model_best.pt');
    const fusion = new Map([['frame_position_embeddings.weight', randn([10, 16])]]);
    writeFileSync(file, bikeCheckpointBytes(model.stateDict(), fusion, 7));
    const loaded = loadClip(file);
    assert.equal(loaded.format, 'bike-checkpoint');
    assert.equal(loaded.epoch, 7);
    assert.deepEqual(loaded.config, { ...TINY_RESNET, transformer_heads: 1 });
    assert.equal(maxDifference(outputsOf(loaded.model), expected), 0);
    assert.deepEqual([...loaded.fusionStateDict!.keys()], ['frame_position_embeddings.weight']);
    disposeModel(loaded.model);
  });
  disposeModel(model);
});

test('an OpenAI-layout safetensors state dict loads; a wrong shape names the key, both shapes and the file', () => {
  manualSeed(24);
  const model = noGrad(() => new CLIP(TINY));
  const expected = outputsOf(model);
  withTempDir((dir) => {
    const file = path.join(dir, 'clip.safetensors');
    saveSafetensors(file, model.stateDict());
    const loaded = loadClip(file, { dropout: 0 });
    assert.equal(loaded.format, 'openai');
    // Heads are not stored in weights: the original's width // 64 gives 1 here, so re-set them.
    assert.equal(loaded.config.transformer_heads, 1);
    disposeModel(loaded.model);

    const state = new Map(model.stateDict());
    state.set('visual.transformer.resblocks.1.mlp.c_fc.bias', randn([100]));
    saveSafetensors(file, state);
    assert.throws(
      () => loadClip(file),
      (e: Error) =>
        e.message.startsWith(file) &&
        /visual\.transformer\.resblocks\.1\.mlp\.c_fc\.bias: checkpoint \[100\] vs model \[256\]/.test(e.message),
    );
  });
  // The same weights with the model's own config reproduce its outputs.
  const copy = noGrad(() => new CLIP(TINY));
  copy.loadStateDict(model.stateDict());
  assert.equal(maxDifference(outputsOf(copy), expected), 0);
  disposeModel(copy);
  disposeModel(model);
});

test('joint space-time models load plain CLIP weights (time embeddings stay initialised)', () => {
  manualSeed(25);
  const model = noGrad(() => new CLIP(TINY));
  withTempDir((dir) => {
    const file = path.join(dir, 'clip.safetensors');
    saveSafetensors(file, model.stateDict());
    const loaded = loadClip(file, { joint: true, T: 2 });
    assert.deepEqual(loaded.model.visual.stateDict().get('time_embedding')!.shape, [2, 64]);
    disposeModel(loaded.model);
  });
  disposeModel(model);
});

test('files that hold no CLIP weights are refused with the file named', () => {
  const scripted = path.resolve(here, '..', 'torch', 'testdata', 'tiny_scripted.pt');
  assert.throws(
    () => readClipWeights(scripted),
    (e: Error) => e.message.includes(scripted) && /no CLIP weights found/.test(e.message),
  );
  withTempDir((dir) => {
    assert.throws(() => readClipWeights(path.join(dir, 'absent.pt')), /absent\.pt: no such file or folder/);
    assert.throws(
      () => readClipWeights(dir),
      (e: Error) => e.message.includes(dir) && /model\.safetensors or pytorch_model\.bin/.test(e.message),
    );
  });
});

const PYTHON = '/usr/bin/python3';
const havePythonTorch =
  spawnSync(PYTHON, ['-c', 'import torch, numpy'], { stdio: 'ignore', timeout: 60_000 }).status === 0;

test(
  'OpenAI-layout TorchScript archives (scripted and traced by PyTorch) give back the weights they were made from, without running their code',
  { skip: !havePythonTorch && `${PYTHON} with torch is not installed` },
  () => {
    manualSeed(3);
    const model = noGrad(() => new CLIP(TINY));
    withTempDir((dir) => {
      const weights = path.join(dir, 'weights.safetensors');
      saveSafetensors(weights, model.stateDict());
      writeFileSync(path.join(dir, 'config.json'), JSON.stringify(TINY));
      for (const mode of ['script', 'trace']) {
        const archive = path.join(dir, `clip-${mode}.pt`);
        const made = spawnSync(
          PYTHON,
          [
            path.join(here, 'testdata', 'make_openai_archive.py'),
            weights,
            path.join(dir, 'config.json'),
            archive,
            mode,
          ],
          { encoding: 'utf8', timeout: 300_000 },
        );
        assert.equal(made.status, 0, made.stderr);
        const read = readClipWeights(archive);
        assert.equal(read.format, 'torchscript');
        const expected = model.stateDict();
        assert.deepEqual(
          [...read.stateDict.keys()].sort(),
          [...expected.keys()].sort(),
          `${mode}: names (input_resolution etc. dropped)`,
        );
        for (const [name, t] of expected) {
          const got = read.stateDict.get(name)!;
          assert.equal(got.dtype, t.dtype, name);
          assert.deepEqual(got.shape, t.shape, name);
          assert.ok(Buffer.from(got.toRaw().data).equals(Buffer.from(t.toRaw().data)), `${mode} ${name}: bytes differ`);
        }
        for (const t of read.stateDict.values()) t.dispose();
        const loaded = loadClip(archive);
        assert.deepEqual(loaded.config.vision_width, TINY.vision_width);
        disposeModel(loaded.model);
      }
    });
    disposeModel(model);
  },
);

test('loadClip skips the random initialisation and adopts the tensors: bit-identical to building, drawing and copying', () => {
  manualSeed(21);
  const source = noGrad(() => new CLIP(TINY));
  withTempDir((dir) => {
    const file = path.join(dir, 'clip.safetensors');
    saveSafetensors(file, source.stateDict());
    manualSeed(5);
    const fast = loadClip(file).model;
    manualSeed(5);
    // The config loadClip infers from the weights (its head counts follow OpenAI's width // 64).
    const drawn = noGrad(() => new CLIP(fast.config));
    const weights = loadSafetensors(file);
    loadClipStateDict(drawn, weights, file);
    for (const t of weights.values()) t.dispose();
    const fastState = fast.stateDict();
    assert.deepEqual([...fastState.keys()], [...drawn.stateDict().keys()]);
    for (const [name, t] of drawn.stateDict()) {
      const got = fastState.get(name)!;
      assert.equal(got.dtype, t.dtype, name);
      assert.ok(Buffer.from(got.toRaw().data).equals(Buffer.from(t.toRaw().data)), `${name}: bytes differ`);
      assert.equal(got.requiresGrad, t.requiresGrad, `${name}: requires grad`);
    }
    fast.eval();
    drawn.eval();
    const image = randn([2, 3, TINY.image_resolution, TINY.image_resolution]);
    noGrad(() => assert.deepEqual(fast.encodeImage(image).toArray(), drawn.encodeImage(image).toArray()));
    disposeModel(fast);
    disposeModel(drawn);
  });
  disposeModel(source);
});
