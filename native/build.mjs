#!/usr/bin/env node
// Builds the libtorch addon with plain g++ (no node-gyp download needed), incrementally.
// By default against Debian's libtorch-dev; set TORCH_DIR to a libtorch root (include/, lib/),
// e.g. the `torch` folder of a pip-installed PyTorch, to build against it (CUDA and NCCL included).
// NODE_API_INCLUDE overrides where node_api.h is found.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const srcDir = path.join(here, 'src');
const buildDir = path.join(here, 'build');
const objDir = path.join(buildDir, 'obj');
const output = path.join(buildDir, 'bike_torch.node');

function fail(message) {
  console.error(`native build: ${message}`);
  process.exit(1);
}

function nodeApiInclude() {
  const candidates = [
    process.env.NODE_API_INCLUDE,
    path.resolve(path.dirname(process.execPath), '..', 'include', 'node'),
    '/usr/include/node',
  ];
  for (const dir of candidates) if (dir && existsSync(path.join(dir, 'node_api.h'))) return dir;
  fail(`node_api.h not found (looked in ${candidates.filter(Boolean).join(', ')}); set NODE_API_INCLUDE`);
}

function addonApiInclude() {
  const require = createRequire(import.meta.url);
  try {
    return path.dirname(require.resolve('node-addon-api/package.json'));
  } catch {
    fail('the npm package node-addon-api is missing: run npm install');
  }
}

function torchVersion(includeRoot) {
  // libtorch 2.9+ keeps the numbers in torch/headeronly/version.h; older ones in the C++ API's version.h.
  const headers = [
    path.join(includeRoot, 'torch', 'headeronly', 'version.h'),
    path.join(includeRoot, 'torch', 'csrc', 'api', 'include', 'torch', 'version.h'),
  ].filter(existsSync);
  if (headers.length === 0)
    fail(`libtorch headers not found under ${includeRoot} (install libtorch-dev or set TORCH_DIR)`);
  for (const header of headers) {
    const text = readFileSync(header, 'utf8');
    const major = Number(/TORCH_VERSION_MAJOR (\d+)/.exec(text)?.[1]);
    const minor = Number(/TORCH_VERSION_MINOR (\d+)/.exec(text)?.[1]);
    if (Number.isInteger(major) && Number.isInteger(minor)) return { major, minor };
  }
  fail(`cannot read the libtorch version from ${headers.join(' or ')}`);
}

function torchConfig() {
  const torchDir = process.env.TORCH_DIR;
  if (!torchDir) {
    const include = '/usr/include';
    return {
      label: 'Debian libtorch-dev',
      version: torchVersion(include),
      // /usr/include is on the default search path already; naming it again breaks #include_next.
      includes: [path.join(include, 'torch', 'csrc', 'api', 'include')],
      defines: ['USE_C10D_GLOO'],
      libDirs: [],
      libs: ['torch', 'torch_cpu', 'c10'],
    };
  }
  const include = path.join(torchDir, 'include');
  const lib = path.join(torchDir, 'lib');
  if (!existsSync(lib)) fail(`TORCH_DIR=${torchDir} has no lib/ folder`);
  const version = torchVersion(include);
  const includes = [include, path.join(include, 'torch', 'csrc', 'api', 'include')];
  const defines = existsSync(path.join(include, 'gloo', 'context.h')) ? ['USE_C10D_GLOO'] : [];
  const libs = ['torch', 'torch_cpu', 'c10'];
  // The C++ ABI must match the one libtorch was built with.
  const cmake = path.join(torchDir, 'share', 'cmake', 'Torch', 'TorchConfig.cmake');
  const abi = existsSync(cmake) ? /_GLIBCXX_USE_CXX11_ABI=([01])/.exec(readFileSync(cmake, 'utf8'))?.[1] : undefined;
  if (abi !== undefined) defines.push(`_GLIBCXX_USE_CXX11_ABI=${abi}`);
  if (existsSync(path.join(lib, 'libtorch_cuda.so'))) {
    libs.push('torch_cuda', 'c10_cuda');
    defines.push('BIKE_WITH_CUDA', 'USE_CUDA');
    // pip wheels carry CUDA and NCCL headers in sibling nvidia/* packages; a system CUDA may also exist.
    const nvidia = path.join(torchDir, '..', 'nvidia');
    if (existsSync(nvidia)) {
      for (const entry of readdirSync(nvidia)) {
        const dir = path.join(nvidia, entry, 'include');
        if (existsSync(dir)) includes.push(dir);
      }
    }
    for (const dir of [
      process.env.CUDA_HOME && path.join(process.env.CUDA_HOME, 'include'),
      '/usr/local/cuda/include',
    ]) {
      if (dir && existsSync(dir)) includes.push(dir);
    }
    const hasNccl = includes.some((dir) => existsSync(path.join(dir, 'nccl.h')));
    if (hasNccl && existsSync(path.join(include, 'torch', 'csrc', 'distributed', 'c10d', 'ProcessGroupNCCL.hpp'))) {
      defines.push('BIKE_WITH_NCCL', 'USE_C10D_NCCL');
    }
  }
  return { label: `libtorch at ${torchDir}`, version, includes, defines, libDirs: [lib], libs };
}

const torch = torchConfig();
// Optional: libjpeg-turbo for fast, PIL-identical JPEG frame decoding (the data layer falls back to sharp).
const jpegHeader = [
  '/usr/include/jpeglib.h',
  '/usr/include/x86_64-linux-gnu/jpeglib.h',
  '/usr/include/aarch64-linux-gnu/jpeglib.h',
].find(existsSync);
if (jpegHeader && process.env.BIKE_NO_JPEG !== '1') {
  torch.defines.push('BIKE_WITH_JPEG');
  torch.libs.push('jpeg');
}
// Optional: FFmpeg's libraries for in-process video decoding (the data layer falls back to the ffmpeg CLI).
const ffmpegHeader = [
  '/usr/include/x86_64-linux-gnu/libavformat/avformat.h',
  '/usr/include/aarch64-linux-gnu/libavformat/avformat.h',
  '/usr/include/libavformat/avformat.h',
].find(existsSync);
if (ffmpegHeader && process.env.BIKE_NO_FFMPEG !== '1') {
  torch.defines.push('BIKE_WITH_FFMPEG');
  torch.libs.push('avformat', 'avcodec', 'swscale', 'avutil');
}
// Debian's libtorch runs its own ops on OpenMP threads but calls BLAS through libblas.so.3, which
// by default is the pthread OpenBLAS: two thread pools that spin against each other on every GEMM
// (on 2 cores, a ViT-B/32 forward of 8 frames took twice as long). Where Debian's OpenMP build of
// OpenBLAS is installed, the addon links it directly (its sonames come first in the load order, so
// libtorch binds to the same library) and BLAS shares libtorch's OpenMP threads and thread count.
// BIKE_BLAS=system keeps whatever the system's alternatives choose.
const openmpBlasFiles = ['libopenblas.so.0', 'libblas.so.3', 'liblapack.so.3'];
const openmpBlas = ['x86_64-linux-gnu', 'aarch64-linux-gnu']
  .map((triplet) => `/usr/lib/${triplet}/openblas-openmp`)
  .find((dir) => openmpBlasFiles.every((f) => existsSync(path.join(dir, f))));
const blasLinkFlags =
  !process.env.TORCH_DIR && openmpBlas && process.env.BIKE_BLAS !== 'system'
    ? ['-Wl,--no-as-needed', `-Wl,-rpath,${openmpBlas}`, ...openmpBlasFiles.map((f) => path.join(openmpBlas, f))]
    : [];
const std = process.env.BIKE_CXX_STD ?? (torch.version.major >= 2 ? 'c++20' : 'c++17');
const compileFlags = [
  `-std=${std}`,
  '-O2',
  '-fPIC',
  '-fvisibility=hidden',
  '-Wno-deprecated-declarations',
  '-Wno-unused-parameter',
  '-DNAPI_CPP_EXCEPTIONS',
  '-DNODE_ADDON_API_DISABLE_DEPRECATED',
  // A worker terminated mid-call cannot receive a JS exception; without this the process aborts.
  '-DNODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS',
  ...torch.defines.map((d) => `-D${d}`),
  `-I${nodeApiInclude()}`,
  `-I${addonApiInclude()}`,
  ...torch.includes.map((dir) => `-isystem${dir}`),
];
const linkFlags = [
  '-shared',
  ...torch.libDirs.flatMap((dir) => [`-L${dir}`, `-Wl,-rpath,${dir}`]),
  ...blasLinkFlags,
  ...torch.libs.map((l) => `-l${l}`),
];

mkdirSync(objDir, { recursive: true });
const flagsHash = createHash('sha256').update(JSON.stringify({ compileFlags, linkFlags })).digest('hex').slice(0, 16);
const sources = readdirSync(srcDir)
  .filter((f) => f.endsWith('.cpp'))
  .sort();
const headers = readdirSync(srcDir).filter((f) => f.endsWith('.h'));
const newestHeader = Math.max(0, ...headers.map((h) => statSync(path.join(srcDir, h)).mtimeMs));

function objectFor(source) {
  return path.join(objDir, `${source.replace(/\.cpp$/, '')}.${flagsHash}.o`);
}

function isStale(source) {
  const obj = objectFor(source);
  if (!existsSync(obj)) return true;
  const objTime = statSync(obj).mtimeMs;
  return objTime < statSync(path.join(srcDir, source)).mtimeMs || objTime < newestHeader;
}

function run(command, args, label) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${label} failed (exit ${code})`))));
  });
}

const stale = sources.filter(isStale);
const linkNeeded =
  stale.length > 0 ||
  !existsSync(output) ||
  sources.some((s) => statSync(objectFor(s)).mtimeMs > statSync(output).mtimeMs);
if (!linkNeeded) {
  console.error(`native build: up to date (${torch.label}, libtorch ${torch.version.major}.${torch.version.minor})`);
  process.exit(0);
}
try {
  execFileSync('g++', ['--version'], { stdio: 'ignore' });
} catch {
  fail('g++ is not installed (apt-get install g++)');
}
console.error(
  `native build: compiling ${stale.length} of ${sources.length} files against ${torch.label} (libtorch ${torch.version.major}.${torch.version.minor}, ${std})`,
);
const jobs = Math.max(1, Number(process.env.BIKE_BUILD_JOBS) || cpus().length);
const queue = [...stale];
const started = Date.now();
try {
  await Promise.all(
    Array.from({ length: Math.min(jobs, queue.length) }, async () => {
      while (queue.length) {
        const source = queue.shift();
        const tmp = `${objectFor(source)}.tmp`;
        await run('g++', [...compileFlags, '-c', path.join(srcDir, source), '-o', tmp], `compiling ${source}`);
        renameSync(tmp, objectFor(source));
      }
    }),
  );
  const tmpOut = `${output}.tmp`;
  await run('g++', [...sources.map(objectFor), '-o', tmpOut, ...linkFlags], 'linking');
  renameSync(tmpOut, output);
} catch (error) {
  fail(error.message);
}
writeFileSync(
  path.join(buildDir, 'build-info.json'),
  JSON.stringify(
    { torch: torch.label, version: torch.version, std, blas: blasLinkFlags.length ? openmpBlas : 'system', flagsHash },
    null,
    2,
  ),
);
console.error(
  `native build: done in ${((Date.now() - started) / 1000).toFixed(1)} s -> ${path.relative(process.cwd(), output)}`,
);
