import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { F, Tensor, manualSeed, nn, noGrad, randn, tidy } from '../torch/index.ts';
import {
  bikeOptionsFromMeta,
  buildFixtureModel,
  disposeFixture,
  loadBikeFixture,
  loadFixtureModel,
  missingFixtureFiles,
  weightsUnder,
  type BikeFixture,
} from './bike-fixture.ts';
import { BikeModel } from '../bike/bike-model.ts';
import { CLIP } from '../clip/model.ts';
import type { SimHeader } from '../bike/video-head.ts';
import type { Interaction } from '../bike/interactions.ts';
import { traceBikeOnnx, writeBikeOnnx, ONNX_META_FILE, type BikeOnnxGraphs } from '../export/bike-export.ts';
import { traceToOnnx, UnsupportedOpError } from '../export/trace.ts';
import { ATEN_TO_ONNX } from '../export/aten-onnx.ts';

const FIXTURE_DIR = path.resolve(import.meta.dirname, '../../../shared/fixtures/bike-reference');
const haveFixture = missingFixtureFiles(FIXTURE_DIR).length === 0;
const TOLERANCE = 1e-4;

const floats = (t: Tensor) => Float32Array.from(t.to('float32').contiguous().toTypedArray() as Float32Array);
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, what: string): number {
  assert.equal(a.length, b.length, `${what}: ${a.length} values from ONNX Runtime, ${b.length} from libtorch`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  assert.ok(Number.isFinite(worst), `${what}: non-finite values`);
  return worst;
}
function assertNear(onnx: ort.Tensor, ref: Tensor, what: string, report: Map<string, number>): void {
  assert.deepEqual([...onnx.dims], ref.shape, `${what}: shape`);
  const diff = maxAbsDiff(onnx.data as Float32Array, floats(ref), what);
  report.set(what, Math.max(report.get(what) ?? 0, diff));
  assert.ok(diff <= TOLERANCE, `${what}: max |ONNX Runtime - libtorch| = ${diff} > ${TOLERANCE}`);
}
const ortFloat = (t: Tensor) => new ort.Tensor('float32', floats(t), t.shape);
const ortInt64 = (t: Tensor) => new ort.Tensor('int64', t.contiguous().toTypedArray() as BigInt64Array, t.shape);

/** Runs the three exported graphs on inputs other than the traced ones and compares with libtorch. */
async function checkParity(
  model: BikeModel,
  fixture: BikeFixture,
  graphs: BikeOnnxGraphs,
  label: string,
): Promise<Map<string, number>> {
  const report = new Map<string, number>();
  const t = model.numSegments;
  const tokens = fixture.get('input.text_tokens');
  const video = await ort.InferenceSession.create(graphs.video.model);
  const text = await ort.InferenceSession.create(graphs.text.model);
  const head = await ort.InferenceSession.create(graphs.head.model);
  const all = fixture.get('input.frames');
  for (let v = 0; v < all.size(0) / t; v++) {
    const ref = tidy(() =>
      noGrad(() => {
        const frames = all.narrow(0, v * t, t).contiguous();
        const classes = model.classFeatures(tokens);
        const features = model.encodeVideos(frames);
        const similarity = model.similarity(features, classes);
        return {
          frames: frames.keep(),
          features: features.keep(),
          similarity: similarity.squeeze(0).keep(),
          probabilities: F.softmax(model.logitScale().mul(similarity), -1).squeeze(0).keep(),
          saliency: model.frameSaliency(features, classes).squeeze(0).keep(),
          cls: classes.cls.keep(),
          tokens: classes.tokens.keep(),
        };
      }),
    );
    const out = await video.run({ frames: ortFloat(ref.frames) });
    assertNear(out.probabilities!, ref.probabilities, `${label} video probabilities`, report);
    assertNear(out.similarity!, ref.similarity, `${label} video similarity`, report);
    assertNear(out.saliency!, ref.saliency, `${label} video saliency`, report);
    assertNear(out.video_features!, ref.features, `${label} video features`, report);
    for (let c = 0; c < tokens.size(0); c++) {
      const row = tokens.narrow(0, c, 1).contiguous();
      const textOut = await text.run({ tokens: ortInt64(row) });
      const cls = ref.cls.narrow(0, c, 1);
      const perToken = ref.tokens.narrow(0, c, 1);
      assertNear(textOut.text_cls!, cls, `${label} text cls`, report);
      assertNear(textOut.text_tokens!, perToken, `${label} text tokens`, report);
      const headOut = await head.run({
        video_features: out.video_features!,
        text_cls: textOut.text_cls!,
        text_tokens: textOut.text_tokens!,
      });
      assertNear(headOut.similarity!, ref.similarity.narrow(0, c, 1), `${label} head similarity`, report);
      assertNear(headOut.saliency!, ref.saliency.narrow(0, c, 1), `${label} head saliency`, report);
    }
    for (const x of Object.values(ref)) x.dispose();
  }
  return report;
}

function exportOptions(fixture: BikeFixture) {
  return {
    classNames: fixture.meta.classes,
    classTokens: fixture.get('input.text_tokens'),
    inputSize: fixture.meta.clip_config.image_resolution,
    resizeTo: fixture.meta.clip_config.image_resolution,
    mean: [0.5, 0.5, 0.5],
    std: [0.25, 0.25, 0.25],
    promptTemplate: 'This is a video about {}',
    vocabulary: { tokens: ['a', 'b'], merges: [['a', 'b']] as [string, string][], source: 'test' },
  };
}

test(
  "ONNX export of the fixtures' model (Transf + VCS): ONNX Runtime matches libtorch within 1e-4",
  { skip: !haveFixture && `no fixture at ${FIXTURE_DIR}` },
  async () => {
    const fixture = loadBikeFixture(FIXTURE_DIR);
    const model = loadFixtureModel(fixture);
    model.eval();
    model.requiresGrad_(false);
    try {
      const graphs = traceBikeOnnx(model, exportOptions(fixture));
      const report = await checkParity(
        model,
        fixture,
        graphs,
        `${fixture.meta.video_head.sim_header}/${fixture.meta.video_head.interaction}`,
      );
      console.log([...report].map(([k, v]) => `${k}: ${v.toExponential(2)}`).join('\n'));
      assert.equal(graphs.meta.classes.length, 6);
      assert.ok(Math.abs(graphs.meta.logitScale - model.logitScale().item()) < 1e-6);
      // The graphs are files a runtime loads: the JSON names them and their inputs.
      const dir = mkdtempSync(path.join(os.tmpdir(), 'bike-onnx-'));
      try {
        writeBikeOnnx(graphs, exportOptions(fixture).vocabulary, dir);
        const meta = JSON.parse(readFileSync(path.join(dir, ONNX_META_FILE), 'utf8'));
        assert.deepEqual(meta.graphs.video.inputs, [{ name: 'frames', dtype: 'float32', shape: [8, 3, 32, 32] }]);
        for (const g of ['video', 'text', 'head']) assert.ok(existsSync(path.join(dir, meta.graphs[g].file)));
        const session = await ort.InferenceSession.create(path.join(dir, meta.graphs.text.file));
        assert.deepEqual([...session.inputNames], ['tokens']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    } finally {
      disposeFixture(fixture);
    }
  },
);

for (const [simHeader, interaction] of [
  ['None', 'DP'],
  ['None', 'VCS'],
  ['Transf', 'DP'],
] as [SimHeader, Interaction][]) {
  test(
    `ONNX export with a ${simHeader} head and ${interaction}: ONNX Runtime matches libtorch within 1e-4`,
    { skip: !haveFixture && `no fixture at ${FIXTURE_DIR}` },
    async () => {
      const fixture = loadBikeFixture(FIXTURE_DIR);
      manualSeed(11);
      const model = buildFixtureModel(fixture.meta, { simHeader, interaction, temporalLayers: 2 });
      model.clip.loadStateDict(weightsUnder(fixture, 'clip.'));
      model.eval();
      model.requiresGrad_(false);
      try {
        const graphs = traceBikeOnnx(model, exportOptions(fixture));
        await checkParity(model, fixture, graphs, `${simHeader}/${interaction}`);
        assert.equal(graphs.meta.simHeader, simHeader);
        assert.equal(graphs.meta.interaction, interaction);
      } finally {
        disposeFixture(fixture);
      }
    },
  );
}

test(
  'ONNX export of a modified-ResNet CLIP (batch norm, average pooling, attention pooling) matches libtorch within 1e-4',
  { skip: !haveFixture && `no fixture at ${FIXTURE_DIR}` },
  async () => {
    const fixture = loadBikeFixture(FIXTURE_DIR);
    manualSeed(12);
    const config = {
      ...fixture.meta.clip_config,
      vision_layers: [1, 1, 1, 1] as [number, number, number, number],
      vision_width: 16,
      vision_patch_size: null,
    };
    const clip = new CLIP(config, { T: fixture.meta.num_segments });
    // Non-trivial batch-norm statistics, so a wrong mapping of them would show.
    noGrad(() => {
      for (const [name, buffer] of clip.namedBuffers()) {
        if (name.endsWith('running_mean')) buffer.copy_(randn(buffer.shape).mul(0.1));
        if (name.endsWith('running_var')) buffer.copy_(randn(buffer.shape).abs().add(0.5));
      }
    });
    const model = new BikeModel(clip, {
      ...bikeOptionsFromMeta(fixture.meta, false),
      simHeader: 'Transf',
      interaction: 'VCS',
      temporalLayers: 1,
    });
    model.eval();
    model.requiresGrad_(false);
    try {
      const graphs = traceBikeOnnx(model, exportOptions(fixture));
      assert.ok(graphs.video.opCounts.get('BatchNormalization')! > 0 && graphs.video.opCounts.get('AveragePool')! > 0);
      await checkParity(model, fixture, graphs, 'RN Transf/VCS');
    } finally {
      disposeFixture(fixture);
    }
  },
);

test(
  "a BIKE export that meets an unmapped operator names it and the module: the text encoder's EOT argmax",
  { skip: !haveFixture && `no fixture at ${FIXTURE_DIR}` },
  () => {
    const fixture = loadBikeFixture(FIXTURE_DIR);
    const model = loadFixtureModel(fixture);
    model.eval();
    const table = ATEN_TO_ONNX as Map<string, unknown>;
    const argmax = table.get('argmax');
    table.delete('argmax');
    try {
      assert.throws(
        () => traceBikeOnnx(model, exportOptions(fixture)),
        /operator aten::argmax has no ONNX mapping, called in module clip \(CLIP\)/,
      );
    } finally {
      table.set('argmax', argmax);
      disposeFixture(fixture);
    }
    for (const [, m] of model.namedModules())
      assert.equal(Object.prototype.hasOwnProperty.call(m, 'encodeText'), false, 'the tracked methods are restored');
  },
);

class Cumulative extends nn.Module {
  proj = this.registerModule('proj', new nn.Linear(4, 4));
  forward(x: Tensor): Tensor {
    return this.proj.forward(x).cumsum(-1);
  }
}
class Wrapper extends nn.Module {
  head = this.registerModule('head', new Cumulative());
  forward(x: Tensor): Tensor {
    return this.head.forward(x.relu());
  }
}

test('an operator without an ONNX mapping is refused with its name and the module that calls it', () => {
  manualSeed(2);
  const model = new Wrapper();
  model.eval();
  const x = randn([2, 4]);
  assert.throws(
    () =>
      traceToOnnx('refused', [{ name: 'x', tensor: x }], (input) => ({ y: model.forward(input) }), {
        root: model,
        rootName: 'model',
      }),
    (error: Error) =>
      error instanceof UnsupportedOpError &&
      /aten::cumsum/.test(error.message) &&
      /module head \(Cumulative\)/.test(error.message),
  );
  // The module wrappers are gone afterwards, and a supported forward exports.
  assert.equal(Object.prototype.hasOwnProperty.call(model.head, 'forward'), false);
  const ok = traceToOnnx('ok', [{ name: 'x', tensor: x }], (input) => ({ y: model.head.proj.forward(input.relu()) }), {
    root: model,
    rootName: 'model',
  });
  assert.deepEqual(ok.outputs, [{ name: 'y', dtype: 'float32', shape: [2, 4] }]);
  // Reading a traced value into JavaScript (data-dependent control flow) is refused, not baked in.
  assert.throws(
    () =>
      traceToOnnx('read', [{ name: 'x', tensor: x }], (input) => ({ y: input.mul(input.sum().item()) }), {
        root: model,
        rootName: 'model',
      }),
    /module \(top level\) reads a traced tensor into JavaScript \(item\(\)\)/,
  );
  assert.equal(x.sum().item() === x.sum().item(), true, 'item() works again after the trace');
  // In-place changes of a traced tensor are refused too.
  assert.throws(
    () => traceToOnnx('inplace', [{ name: 'x', tensor: x }], (input) => ({ y: input.relu().add_(1) })),
    /aten::add_\.Scalar .*in-place on a traced tensor.*module \(top level\)/,
  );
});
