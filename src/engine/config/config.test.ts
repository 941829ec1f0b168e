import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ConfigError,
  defaultConfig,
  loadConfig,
  parseConfig,
  parseOverride,
  requireSetting,
  type ConfigIssue,
  type ConfigPurpose,
} from './config.ts';

const configsDir = fileURLToPath(new URL('../../../../shared/configs/', import.meta.url));
const haveConfigs = existsSync(configsDir);

function sharedConfigs(): string[] {
  return readdirSync(configsDir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => join(configsDir, f))
    .sort();
}

/** What the original runs each shipped config with. */
function purposeOf(file: string): ConfigPurpose {
  if (file.includes('zero_shot')) return 'test';
  if (file.includes('attr')) return 'train-attributes';
  return 'train';
}

function issuesOf(run: () => unknown): ConfigIssue[] {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    return error.issues;
  }
  assert.fail('expected the config to be refused');
}

const MINIMAL = 'data:\n    dataset: k400\n    num_segments: 8\nnetwork:\n    arch: ViT-B/32\n';

test(
  'every shipped config validates, also for the command the original runs it with',
  { skip: !haveConfigs && 'shared configs absent' },
  () => {
    const files = sharedConfigs();
    assert.ok(files.length >= 20, `found ${files.length} configs`);
    for (const file of files) {
      assert.doesNotThrow(() => loadConfig(file), file);
      assert.doesNotThrow(() => loadConfig(file, { purpose: purposeOf(file) }), file);
    }
  },
);

test('values and defaults of a shipped training config', { skip: !haveConfigs && 'shared configs absent' }, () => {
  const c = loadConfig(join(configsDir, 'k400', 'k400_train_rgb_vitb-32-f8.yaml'));
  assert.deepEqual(c.network.arch, { kind: 'name', name: 'ViT-B/32' });
  assert.equal(c.data.num_segments, 8);
  assert.equal(c.data.image_tmpl, 'img_{:05d}.jpg');
  assert.equal(c.solver.lr, 5e-5); // written "5.e-5", a float for PyYAML and for us
  assert.equal(c.solver.type, 'cosine');
  assert.equal(c.network.init, true);
  assert.equal(c.network.tm, false);
  assert.equal(c.network.sim_header, 'Transf');
  assert.equal(c.resume, null); // "resume:" with nothing after it
  assert.equal(c.data.dense, false); // absent: falsy in the original
  assert.equal(c.data.shot, null);
  assert.equal(c.data.index_bias, 1);
  assert.equal(c.seed, 1024);
});

test(
  'a zero-shot config has no solver: fine for testing, refused for training with every missing key named',
  { skip: !haveConfigs && 'shared configs absent' },
  () => {
    const file = join(configsDir, 'ucf101', 'ucf_zero_shot.yaml');
    const c = loadConfig(file, { purpose: 'test' });
    assert.equal(c.solver.lr, null);
    assert.equal(c.data.index_bias, 1);
    const keys = issuesOf(() => loadConfig(file, { purpose: 'train' })).map((i) => i.key);
    for (const key of ['solver.lr', 'solver.epochs', 'solver.optim', 'data.train_list', 'data.output_path']) {
      assert.ok(keys.includes(key), `${key} in ${keys.join(', ')}`);
    }
  },
);

test('unknown keys are reported with file, line, full path and a suggestion', () => {
  const text =
    'seed: 1\ndata:\n    dataset: k400\n    num_segmetns: 8\nnetwork:\n    arch: ViT-B/32\n    fix_txt: True\nsolvr:\n    lr: 1.0e-3\nlr: 3\ncolour: red\n';
  const issues = issuesOf(() => parseConfig(text, 'my.yaml'));
  const byKey = new Map(issues.map((i) => [i.key, i]));
  assert.equal(byKey.get('data.num_segmetns')?.line, 4);
  assert.match(byKey.get('data.num_segmetns')!.message, /unknown key; did you mean data\.num_segments\?/);
  assert.match(byKey.get('network.fix_txt')!.message, /did you mean network\.fix_text\?/);
  assert.match(byKey.get('solvr')!.message, /did you mean solver\?/);
  assert.match(byKey.get('lr')!.message, /did you mean solver\.lr\?/);
  assert.match(byKey.get('colour')!.message, /known keys here: resume, pretrain, seed, data, network, solver, logging/);
  assert.equal(issues.length, 5);
  const error = (() => {
    try {
      parseConfig(text, 'my.yaml');
    } catch (e) {
      return e as Error;
    }
  })()!;
  assert.match(error.message, /my\.yaml:4: data\.num_segmetns: unknown key/);
});

test('wrong types and out-of-range values name the key and what was expected', () => {
  const text =
    'data:\n  num_segments: eight\n  batch_size: 0\n  random_shift: 1\n  modality: rgb\nnetwork:\n  drop_out: 1.5\n  tm: [1]\nsolver:\n  lr_decay_step: [10, x]\nlogging: 5\n';
  const issues = issuesOf(() => parseConfig(text, 'bad.yaml'));
  const message = (key: string) => issues.find((i) => i.key === key)?.message ?? `no issue for ${key}`;
  assert.match(message('data.num_segments'), /expected an integer, got text "eight"/);
  assert.match(message('data.batch_size'), /expected an integer in 1\.\.65536, got 0/);
  assert.match(message('data.random_shift'), /expected True or False, got number 1/);
  assert.match(message('data.modality'), /expected one of RGB, video, got text "rgb"; did you mean RGB\?/);
  assert.match(message('network.drop_out'), /expected a number < 1, got 1\.5/);
  assert.match(message('network.tm'), /expected False or a variant name/);
  assert.match(message('solver.lr_decay_step'), /non-empty list/);
  assert.match(message('logging'), /expected a mapping of logging settings, got number 5/);
  assert.equal(issues.find((i) => i.key === 'data.num_segments')?.line, 2);
});

test('--set overrides: YAML scalars, lists and mappings, applied after the file', () => {
  const c = parseConfig(MINIMAL, 'min.yaml', {
    overrides: [
      'solver.lr=1.e-4',
      'data.num_segments=16',
      'network.arch=ViT-L/14-336px',
      'solver.lr_decay_step=[10, 20]',
      'network.fix_text=True',
      'resume=',
      'data.shot=2',
    ],
  });
  assert.equal(c.solver.lr, 1e-4);
  assert.equal(c.data.num_segments, 16);
  assert.deepEqual(c.network.arch, { kind: 'name', name: 'ViT-L/14-336px' });
  assert.deepEqual(c.solver.lr_decay_step, [10, 20]);
  assert.equal(c.network.fix_text, true);
  assert.equal(c.resume, null);
  assert.equal(c.data.shot, 2);
  assert.deepEqual(parseOverride('data.image_tmpl=img_{:05d}.jpg'), {
    key: 'data.image_tmpl',
    value: 'img_{:05d}.jpg',
  });
  assert.deepEqual(parseOverride('data.image_tmpl={}-{:06d}.jpg'), { key: 'data.image_tmpl', value: '{}-{:06d}.jpg' }); // not YAML: kept as text
  assert.throws(() => parseOverride('data.num_segments={}-{'), /not valid YAML/);
});

test('bad --set arguments are refused, naming the argument and the key', () => {
  const issues = issuesOf(() =>
    parseConfig(MINIMAL, 'min.yaml', {
      overrides: ['solver.lr', 'solver.lrr=1', 'data.num_segments=many', 'logging.print_freq=[1', 'data=1', 'a.b.c=1'],
    }),
  );
  const find = (source: string) =>
    issues.find((i) => i.source === `--set ${source}`) ?? assert.fail(`no issue for ${source}`);
  assert.match(find('solver.lr').message, /expected key\.path=value/);
  assert.equal(find('solver.lrr=1').key, 'solver.lrr');
  assert.match(find('solver.lrr=1').message, /did you mean solver\.lr\?/);
  assert.equal(find('data.num_segments=many').key, 'data.num_segments');
  assert.match(find('data.num_segments=many').message, /expected an integer, got text "many"/);
  assert.match(find('logging.print_freq=[1').message, /not valid YAML/);
  assert.match(find('data=1').message, /is a section/);
  assert.match(find('a.b.c=1').message, /unknown key/);
});

test('network.arch: a model name, a weights file, or a mapping of CLIP hyper-parameters', () => {
  const withArch = (arch: string, fileExists = (_: string) => false) =>
    parseConfig(`network:\n  arch: ${arch}\n`, 'arch.yaml', { fileExists });
  assert.deepEqual(withArch('RN50x4').network.arch, { kind: 'name', name: 'RN50x4' });
  assert.deepEqual(withArch('weights/my-clip.pt', (p) => p === 'weights/my-clip.pt').network.arch, {
    kind: 'file',
    path: 'weights/my-clip.pt',
  });
  const typo = issuesOf(() => withArch('ViT-L/14-336'));
  assert.equal(typo[0]!.key, 'network.arch');
  assert.match(
    typo[0]!.message,
    /neither a CLIP model name \(did you mean "ViT-L\/14-336px"\?\) nor an existing weights file/,
  );

  const tiny =
    '{embed_dim: 64, image_resolution: 32, vision_layers: 2, vision_width: 128, vision_patch_size: 8, context_length: 77, vocab_size: 49408, transformer_width: 128, transformer_heads: 2, transformer_layers: 2}';
  const arch = withArch(tiny).network.arch;
  assert.equal(arch?.kind, 'hyperparameters');
  assert.equal(arch?.kind === 'hyperparameters' && arch.hyperparameters.vision_patch_size, 8);
  const resnet = tiny
    .replace('vision_layers: 2', 'vision_layers: [3, 4, 6, 3]')
    .replace('vision_patch_size: 8', 'vision_patch_size: null');
  assert.deepEqual(withArch(resnet).network.arch?.kind === 'hyperparameters' && withArch(resnet).network.arch, {
    kind: 'hyperparameters',
    hyperparameters: {
      embed_dim: 64,
      image_resolution: 32,
      vision_layers: [3, 4, 6, 3],
      vision_width: 128,
      vision_patch_size: null,
      context_length: 77,
      vocab_size: 49408,
      transformer_width: 128,
      transformer_heads: 2,
      transformer_layers: 2,
    },
  });
  const bad = issuesOf(() =>
    withArch(tiny.replace('embed_dim: 64', 'embed_dims: 64').replace('transformer_heads: 2', 'transformer_heads: 3')),
  );
  const keys = bad.map((i) => i.key);
  assert.ok(keys.includes('network.arch.embed_dims'), keys.join());
  const block = issuesOf(() =>
    parseConfig('network:\n  arch:\n    embed_dim: 64\n    vision_layerz: 2\n', 'block.yaml'),
  );
  assert.equal(block.find((i) => i.key === 'network.arch.vision_layerz')?.line, 4);
  assert.match(
    bad.find((i) => i.key === 'network.arch.embed_dims')!.message,
    /did you mean network\.arch\.embed_dim\?/,
  );
  assert.match(bad.find((i) => i.key === 'network.arch')!.message, /embed_dim missing/);
  assert.match(
    issuesOf(() => withArch('[1, 2]'))[0]!.message,
    /expected a CLIP model name, a weights file path or a mapping/,
  );
});

test('network.init: False is accepted; YAML 1.1 booleans as PyYAML reads them', () => {
  const c = parseConfig('network:\n  init: False\n  fix_text: yes\n  fix_video: off\n  type: n\n', 'b.yaml');
  assert.equal(c.network.init, false);
  assert.equal(c.network.fix_text, true);
  assert.equal(c.network.fix_video, false);
  assert.equal(c.network.type, 'n'); // PyYAML keeps a lone n as text
});

test('settings required by another setting; requireSetting names the key', () => {
  const text = `${MINIMAL}solver:\n  optim: sgd\n  type: multistep\n`;
  const keys = issuesOf(() => parseConfig(text, 'sgd.yaml', { purpose: 'train' })).map((i) => i.key);
  for (const key of ['solver.momentum', 'solver.weight_decay', 'solver.lr_decay_step'])
    assert.ok(keys.includes(key), `${key} in ${keys}`);
  const rgb = issuesOf(() => parseConfig('data:\n  modality: RGB\n', 'rgb.yaml', { purpose: 'test' }));
  assert.match(rgb.find((i) => i.key === 'data.image_tmpl')!.message, /required because data\.modality is RGB/);
  const video = issuesOf(() => parseConfig('data:\n  modality: video\n', 'video.yaml', { purpose: 'test' }));
  assert.equal(
    video.find((i) => i.key === 'data.image_tmpl'),
    undefined,
    'decoded videos need no frame template',
  );
  const c = parseConfig(text, 'sgd.yaml');
  assert.equal(requireSetting(c.data.num_segments, 'data.num_segments', 'training'), 8);
  assert.throws(
    () => requireSetting(c.solver.lr, 'solver.lr', 'training'),
    /solver\.lr: required for training but not set/,
  );
});

test('documents that are not configs, YAML syntax errors and missing files', () => {
  assert.deepEqual(parseConfig('', 'empty.yaml'), defaultConfig());
  assert.match(issuesOf(() => parseConfig('- a\n- b\n', 'list.yaml'))[0]!.message, /must be a mapping of sections/);
  const syntax = issuesOf(() => parseConfig('data:\n  a: [1\nb: 2\n', 'broken.yaml'))[0]!;
  assert.equal(syntax.source, 'broken.yaml');
  assert.equal(syntax.line, 3);
  assert.match(syntax.message, /YAML syntax/);
  assert.equal(issuesOf(() => parseConfig('seed: 1\nseed: 2\n', 'dup.yaml'))[0]!.line, 2);
  assert.match(issuesOf(() => loadConfig('/nonexistent/config.yaml'))[0]!.message, /cannot read the config file/);
});
