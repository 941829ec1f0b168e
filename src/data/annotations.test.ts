import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AnnotationError,
  annotationSize,
  charadesMultiHot,
  charadesSegmentFrames,
  classNames,
  detectAnnotationFormat,
  dropEmptySegments,
  dropShortVideos,
  parseAnnotation,
  parseAttributes,
  parseCharadesClasses,
  parseCharadesSegments,
  parseCharadesVideos,
  parseLabelCsv,
  parseVideoList,
  readAnnotation,
  readAttributes,
  readClassList,
  videoAttributes,
  attributeSentence,
  writeAttributes,
  type AnnotationFormat,
} from './annotations.ts';

const listsDir = fileURLToPath(new URL('../../../shared/lists/', import.meta.url));

function allFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? allFiles(p) : [p];
  });
}

/** Expected format of the lists we know, by file name (any other file must still parse). */
function expectedFormat(name: string): AnnotationFormat | undefined {
  if (/labels.*\.csv$/.test(name)) return 'label-csv';
  if (name === 'Charades_v1_classes.txt') return 'charades-classes';
  if (/^Charades_v1_(train|test)\.csv$/.test(name)) return 'charades-videos';
  if (name === 'Charades_train_split_label.csv') return 'charades-segments';
  if (/^(kinetics_video_val|test_split\d_exist)/.test(name)) return 'video-list';
  if (/\.txt$/.test(name)) return 'frame-list';
  return undefined;
}

/** The label file each list is checked against, as the original configs pair them. */
function labelFileFor(rel: string): string | undefined {
  const [dir, name] = rel.split('/') as [string, string];
  if (dir === 'k600') {
    const split = /split(\d)/.exec(name)?.[1];
    return split ? `k600/k160_labels_split${split}.csv` : undefined;
  }
  return {
    hmdb51: 'hmdb51/hmdb51_labels.csv',
    ucf101: 'ucf101/ucf_labels.csv',
    k400: 'k400/kinetics_400_labels.csv',
    anet: 'anet/anet1.3_labels.csv',
    charades: 'charades/Charades_v1_classes.txt',
  }[dir];
}

// Entry counts checked with `wc -l` and Python's csv module.
const SPOT_COUNTS: Record<string, number> = {
  'hmdb51/train_rgb_split_1.txt': 3570,
  'hmdb51/hmdb_full_for_zeroshot.txt': 6766,
  'ucf101/val_rgb_split_1.txt': 3783,
  'ucf101/ucf_full_for_zeroshot.txt': 13320,
  'k400/kinetics_rgb_val_se320.txt': 19796,
  'k400/kinetics_video_val_se320.txt': 19796,
  'k600/test_split1_exist.txt': 14119,
  'anet/anet_train_instance_fps1.txt': 15410,
  'anet/anet_val_video_fps1.txt': 4926,
  'anet/anet1.3_labels.csv': 200,
  'k400/kinetics_400_labels.csv': 400,
  'hmdb51/hmdb51_labels.csv': 51,
  'ucf101/ucf_labels.csv': 101,
  'k600/k160_labels_split2.csv': 160,
  'charades/Charades_v1_classes.txt': 157,
  'charades/Charades_v1_train.csv': 7985,
  'charades/Charades_v1_test.csv': 1863,
  'charades/Charades_train_split_label.csv': 49809,
};

test('every file in shared/lists parses, with labels checked against its label file', async () => {
  const files = allFiles(listsDir);
  assert.ok(files.length >= 30, `expected the shared lists, found ${files.length} files in ${listsDir}`);
  const classCounts = new Map<string, number>();
  const seen = new Set<string>();
  for (const file of files) {
    const rel = relative(listsDir, file).split('\\').join('/');
    const labelRel = labelFileFor(rel);
    let numClasses: number | undefined;
    if (labelRel && labelRel !== rel) {
      if (!classCounts.has(labelRel))
        classCounts.set(labelRel, (await readClassList(join(listsDir, labelRel))).classes.length);
      numClasses = classCounts.get(labelRel);
    }
    const parsed = await readAnnotation(file, { numClasses });
    const name = rel.split('/').pop()!;
    const expected = expectedFormat(name);
    if (expected) assert.equal(parsed.format, expected, `${rel}: detected ${parsed.format}, expected ${expected}`);
    assert.ok(annotationSize(parsed) > 0, `${rel} parsed to nothing`);
    if (rel in SPOT_COUNTS) {
      assert.equal(annotationSize(parsed), SPOT_COUNTS[rel], `${rel} entry count`);
      seen.add(rel);
    }
  }
  assert.deepEqual([...seen].sort(), Object.keys(SPOT_COUNTS).sort(), 'every spot-checked file was found');
});

test('frame lists: fields, the short-video filter and label ranges of the real files', async () => {
  const anet = await readAnnotation(join(listsDir, 'anet/anet_train_instance_fps1.txt'), { numClasses: 200 });
  assert.equal(anet.format, 'frame-list');
  if (anet.format !== 'frame-list') return;
  assert.deepEqual(anet.list.records[0], { path: '4k-F7EXpcrM_0', numFrames: 12, label: 185, line: 1 });
  // 2640 entries have fewer than 8 frames (counted with awk); test mode keeps everything.
  assert.equal(dropShortVideos(anet.list, false).length, 15410 - 2640);
  assert.equal(dropShortVideos(anet.list, true).length, 15410);

  const video = parseVideoList(readFileSync(join(listsDir, 'k600/test_split3_exist.txt'), 'utf8'), 'k600');
  assert.equal(video.format, 'video');
  assert.deepEqual(video.records[0], { path: '0A8d23WeHjo_000018_000028.mp4', numFrames: null, label: 0, line: 1 });
  assert.equal(dropShortVideos(video, false).length, video.records.length, 'video lists are never filtered');
  assert.equal(Math.max(...video.records.map((r) => r.label)), 159);

  // K-600 zero-shot labels index the 160 novel classes; checked against 159 classes, 159 is unknown.
  const text = readFileSync(join(listsDir, 'k600/test_split1_exist.txt'), 'utf8');
  assert.throws(() => parseVideoList(text, 'split1', { numClasses: 159 }), /split1:\d+: unknown label 159/);
});

test('label files: class names in row order; Charades ids and names', async () => {
  const k400 = await readClassList(join(listsDir, 'k400/kinetics_400_labels.csv'));
  assert.equal(classNames(k400)[0], 'abseiling');
  assert.equal(k400.classes[399]!.index, 399);
  const charades = await readClassList(join(listsDir, 'charades/Charades_v1_classes.txt'));
  assert.deepEqual(charades.classes[0], { index: 0, id: 'c000', name: 'Holding some clothes', line: 1 });
  assert.ok(!charades.classes.some((c) => c.name.endsWith('\r')), 'CRLF is stripped from names');
});

test('Charades CSVs: multi-label test targets and the training interval filter', async () => {
  const testFile = join(listsDir, 'charades/Charades_v1_test.csv');
  const videos = parseCharadesVideos(readFileSync(testFile, 'utf8'), testFile);
  const first = videos[0]!;
  assert.equal(first.id, 'YSKX3');
  assert.equal(first.length, 16.62);
  assert.deepEqual(first.actions[0], { classIndex: 77, start: 12.1, end: 18 });
  const target = charadesMultiHot(first);
  assert.equal(target.length, 157);
  assert.deepEqual(
    [...target.keys()].filter((i) => target[i] === 1),
    [75, 76, 77, 79, 80],
  );
  // 49 test videos have no actions (Python's csv found them): all-zero targets.
  assert.equal(videos.filter((v) => charadesMultiHot(v).every((x) => x === 0)).length, 49);

  const segFile = join(listsDir, 'charades/Charades_train_split_label.csv');
  const segments = parseCharadesSegments(readFileSync(segFile, 'utf8'), segFile);
  assert.deepEqual(segments[0], {
    videoId: '46GP8',
    label: 92,
    startTime: 11.9,
    endTime: 21.2,
    totalTime: 24.83,
    line: 2,
  });
  assert.equal(dropEmptySegments(segments).length, 49802);
  // int(21.2*24 - 11.9*24) = int(223.2) = 223 frames, from frame int(11.9*24) = 285.
  assert.deepEqual(charadesSegmentFrames(segments[0]!, 24), { numFrames: 223, firstFrame: 285 });
});

test('malformed lines are errors naming file, 1-based line and the expectation', () => {
  const check = (text: string, line: number | undefined, pattern: RegExp) =>
    assert.throws(
      () => parseVideoList(text, 'my/list.txt', { numClasses: 10 }),
      (e: unknown) =>
        e instanceof AnnotationError && e.file === 'my/list.txt' && e.line === line && pattern.test(e.message),
    );
  check('a 12 3\n\nb x 4\n', 3, /my\/list\.txt:3: expected num_frames .* got "x"/);
  check('a 12 3\nb 40 4 extra\n', 2, /expected "path num_frames label" \(3 fields, like line 1\), got 4 fields/);
  check('a 12 3\nb 40\n', 2, /got 2 fields/);
  check('a 12 3\nb 40 -1\n', 2, /class index >= 0, got "-1"/);
  check('a 12 3\nb 40 2.5\n', 2, /class index >= 0, got "2.5"/);
  check('a 12 3\nb 40 10\n', 2, /unknown label 10: the label file has 10 classes/);
  check('a.mp4 3\nb.mp4 12\n', 2, /unknown label 12/);
  check(
    'just-one-field\n',
    1,
    /expected "path num_frames label" \(3 fields\) or "path label" \(2 fields\), got 1 fields/,
  );
  check('', undefined, /the list is empty/);
  check('\n  \n', undefined, /the list is empty/);
});

test('label CSV errors: header, id order, field count, empty', () => {
  const err = (text: string, pattern: RegExp) =>
    assert.throws(
      () => parseLabelCsv(text, 'labels.csv'),
      (e: unknown) => e instanceof AnnotationError && pattern.test(e.message),
    );
  err('0,abseiling\n1,air drumming\n', /labels\.csv:1: expected the header line "id,name"/);
  err('id,name\n0,a\n2,b\n', /labels\.csv:3: expected class id 1/);
  err('id,name\n0,a,b\n', /labels\.csv:2: expected "id,name" \(2 fields/);
  err('id,name\n', /header but no classes/);
  err('', /empty/);
  assert.deepEqual(classNames(parseLabelCsv('id,name\r\n0,"a, b"\r\n1,c\r\n', 'x')), ['a, b', 'c']);
  assert.throws(() => parseCharadesClasses('c000 a\nc002 b\n', 'cls.txt'), /cls\.txt:2: expected class id c001/);
});

test('Charades CSV errors name the line and the bad token', () => {
  const header = 'id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length\n';
  assert.throws(
    () => parseCharadesVideos(`${header}V1,s,k,6,7,Yes,x,o,d,c200 1.0 2.0,10\n`, 'test.csv'),
    /test\.csv:2: unknown label c200/,
  );
  assert.throws(
    () => parseCharadesVideos(`${header}V1,s,k,6,7,Yes,x,o,d,c001 1.0,10\n`, 'test.csv'),
    /test\.csv:2: expected each action as "cNNN start end"/,
  );
  assert.throws(
    () => parseCharadesVideos(`${header}V1,s,k,6,7,Yes,"x,y",o,d,,10,extra\n`, 'test.csv'),
    /test\.csv:2: expected 11 fields/,
  );
  const segHeader = 'video_id,label,start_time,end_time,total_time\n';
  assert.throws(
    () => parseCharadesSegments(`${segHeader}V1,c001,1.0,abc,3\n`, 'seg.csv'),
    /seg\.csv:2: expected end_time in seconds/,
  );
  assert.throws(
    () => parseCharadesSegments(`${segHeader}V1,92,1.0,2.0,3\n`, 'seg.csv'),
    /seg\.csv:2: expected an action class like "c092", got "92"/,
  );
  assert.throws(() => parseCharadesSegments(segHeader, 'seg.csv'), /header but no actions/);
});

test('format detection', () => {
  const cases: [string, AnnotationFormat][] = [
    ['a 1 2\n', 'frame-list'],
    ['a.mp4 2\n', 'video-list'],
    ['id,name\n0,x\n', 'label-csv'],
    ['c000 Holding\n', 'charades-classes'],
    ['id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length\n', 'charades-videos'],
    ['video_id,label,start_time,end_time,total_time\n', 'charades-segments'],
    ['{"a": {"classname_topk": ["x"]}}', 'attributes'],
  ];
  for (const [text, format] of cases) assert.equal(detectAnnotationFormat(text, 'f'), format, text);
  assert.throws(() => detectAnnotationFormat('a b c d\n', 'odd.txt'), /odd\.txt:1: unrecognised annotation format/);
  assert.throws(() => parseAnnotation('', 'empty.txt'), /empty\.txt: the file is empty/);
});

test('attribute JSON: read, write, top-k and errors', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bike-attr-'));
  try {
    const table = parseAttributes(
      JSON.stringify({
        'abseiling/v1': { classname_topk: ['rope', 'cliff', 'helmet', 'harness', 'rock', 'sky'], score: [0.9] },
      }),
      'attrs.json',
    );
    const file = join(dir, 'out.json');
    await writeAttributes(file, table);
    const back = await readAttributes(file);
    assert.deepEqual([...back.entries()], [...table.entries()], 'round trip keeps every key, including extra ones');
    assert.deepEqual(videoAttributes(back, 'abseiling/v1', 5), ['rope', 'cliff', 'helmet', 'harness', 'rock']);
    assert.equal(attributeSentence(['a', 'b']), 'This is a video about a,b');
    assert.throws(() => videoAttributes(back, 'missing', 5, file), /no attributes for video "missing"/);
  } finally {
    await rm(dir, { recursive: true });
  }
  assert.throws(
    () => parseAttributes('{"v": {"classname_topk": [1]}}', 'a.json'),
    /a\.json: key "v": expected "classname_topk" to be an array of strings/,
  );
  assert.throws(() => parseAttributes('[1]', 'a.json'), /a\.json: expected a JSON object/);
  assert.throws(() => parseAttributes('{', 'a.json'), /a\.json: not valid JSON/);
});
