#!/usr/bin/env node
// Dev-time generator of golden outputs for the dfdetect C NN engine.
//
// Runs the TF.js graph models (models/*.json + *.bin) with the pure-JS CPU
// backend of tfjs on fixed, exactly specified inputs and writes the outputs to
// tests/nn/golden/ (little-endian float32 .bin files + manifest.json).
// The input formulas are documented in tests/nn/golden/README.md; the C test
// recomputes the inputs and must get bit-identical float32 values.
//
// Usage:  cd tools/golden && npm ci --ignore-scripts && node generate.js
//         [--models DIR] [--image PNG] [--out DIR]
// Not used by the build or by the tests.
'use strict';

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const tfconv = require('@tensorflow/tfjs-converter');
const { PNG } = require('pngjs');

const ROOT = path.resolve(__dirname, '..', '..');

function argValue(flag, dflt) {
  const i = process.argv.indexOf(flag);
  return i >= 0 && i + 1 < process.argv.length ? path.resolve(process.argv[i + 1]) : dflt;
}
const MODELS_DIR = argValue('--models', path.join(ROOT, 'models'));
const IMAGE_PATH = argValue('--image', path.join(ROOT, 'assets', 'astronaut.png'));
const OUT_DIR = argValue('--out', path.join(ROOT, 'tests', 'nn', 'golden'));
const IMAGE_REL = 'assets/astronaut.png';

// ---------------------------------------------------------------------------
// Per-model configuration.
//   size:    input H = W (batch 1, NHWC, 3 channels)
//   pre:     preprocessing id (see PREPROCESS)
//   crop:    [x0, y0] top-left corner of the S x S crop of astronaut.png
//   outputs: every output of the graph's signature, in the order they are
//            stored (sorted by tensor name); [tensor name, signature key]
//   inter:   intermediate nodes (stored as deterministic subsets, or in full
//            when they have at most SMALL_N values)
// ---------------------------------------------------------------------------
const MODELS = [
  {
    model: 'blazeface', size: 256, pre: 'pm1', crop: [112, 24],
    outputs: [
      ['Identity:0', 'Identity:0'],
      ['Identity_1:0', 'Identity_1:0'],
      ['Identity_2:0', 'Identity_2:0'],
      ['Identity_3:0', 'Identity_3:0'],
    ],
    inter: [
      'StatefulPartitionedCall/functional_1/conv2d/Relu',
      'StatefulPartitionedCall/functional_1/re_lu_15/Relu',
    ],
  },
  {
    model: 'facemesh', size: 192, pre: 'unit', crop: [129, 29],
    outputs: [
      ['Identity:0', 'output_contours'],
      ['Identity_1:0', 'output_faceflag'],
      ['Identity_2:0', 'output_mesh'],
    ],
    inter: [
      'StatefulPartitionedCall/model_1/batch_normalization_1/FusedBatchNormV3',
      'StatefulPartitionedCall/model_1/conv2d_31/BiasAdd', // faceflag logit (the sigmoid saturates to 1.0)
    ],
  },
  {
    model: 'faceres', size: 224, pre: 'caffe_bgr', crop: [113, 13],
    outputs: [
      ['age_pred/Softmax:0', 'age_pred/Softmax:0'],
      ['gender_pred/Sigmoid:0', 'gender_pred/Sigmoid:0'],
      ['global_pooling/Mean', 'global_pooling/Mean'],
    ],
    inter: [
      'conv1_relu/clip_by_value',
      'conv_pw_1_relu/clip_by_value',
      'conv_pw_2_relu/clip_by_value', // after the first stride-2 depthwise conv
      'conv_pw_11_relu/clip_by_value', // a mid-level feature tap (14x14x512)
      'feats/Relu',
    ],
  },
  {
    model: 'antispoof', size: 128, pre: 'unit', crop: [161, 61],
    outputs: [
      ['Identity:0', 'activation_4'],
    ],
    inter: [
      'StatefulPartitionedCall/sequential/activation_3/Relu', // 128-d hidden layer
      'StatefulPartitionedCall/sequential/dense_1/BiasAdd', // logit
    ],
  },
];

// Subsets stored for intermediates (see tests/nn/golden/README.md).
const SUBSET_N = 1024;
const SMALL_N = 4096; // intermediates with at most this many values are stored in full
const SAMPLE_MUL = 2654435761; // index_j = (j * SAMPLE_MUL) mod N, j < 1024 (exact in float64)

// ---------------------------------------------------------------------------
// Inputs. Everything in float64; one Math.fround at the very end.
// ---------------------------------------------------------------------------
// Source pixel values P(y, x, c) in [0, 255], c = 0 R, 1 G, 2 B.
function patternP(y, x, c) {
  const s = 0.5 + 0.3 * Math.sin(0.07 * x + 0.05 * y + 1.3 * c)
                + 0.2 * Math.cos(0.0021 * x * y + 0.9 * c);
  return 255 * s;
}

// out[k] for output channel k, given getP(c) -> P of source channel c.
const PREPROCESS = {
  pm1: { formula: 'out[k] = P[k] / 127.5 - 1', f: (P, k) => P(k) / 127.5 - 1 },
  unit: { formula: 'out[k] = P[k] / 255', f: (P, k) => P(k) / 255 },
  caffe_bgr: {
    formula: 'out[0] = P[2] - 103.939; out[1] = P[1] - 116.779; out[2] = P[0] - 123.68  (BGR, caffe means)',
    f: (P, k) => (k === 0 ? P(2) - 103.939 : k === 1 ? P(1) - 116.779 : P(0) - 123.68),
  },
};

function makeInput(size, pre, srcP) {
  const a = new Float32Array(size * size * 3);
  const f = PREPROCESS[pre].f;
  let i = 0;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const P = (c) => srcP(y, x, c);
      for (let k = 0; k < 3; k++) a[i++] = Math.fround(f(P, k));
    }
  }
  return a;
}

function loadImage(file) {
  const png = PNG.sync.read(fs.readFileSync(file));
  return png; // png.data is RGBA, 8 bit
}

function cropP(png, x0, y0, size) {
  if (x0 < 0 || y0 < 0 || x0 + size > png.width || y0 + size > png.height) {
    throw new Error(`crop ${x0},${y0}+${size} outside image ${png.width}x${png.height}`);
  }
  return (y, x, c) => png.data[((y0 + y) * png.width + (x0 + x)) * 4 + c];
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------
function sha256(buf) { return crypto.createHash('sha256').update(buf).digest('hex'); }

// FNV-1a 32-bit over bytes (trivial to recompute in C for a bit-exact input check).
function fnv1a32(bytes) {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
function f32bytes(a) { return Buffer.from(a.buffer, a.byteOffset, a.byteLength); }
function hex8(n) { return '0x' + n.toString(16).padStart(8, '0'); }

function stats(a) {
  let mn = Infinity, mx = -Infinity, s = 0, zeros = 0;
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (v < mn) mn = v;
    if (v > mx) mx = v;
    s += v;
    if (v === 0) zeros++;
  }
  return { min: mn, max: mx, mean: s / a.length, zeros };
}

// dynamicBatch: set the Placeholder's batch dimension and a leading 1 in Reshape
// target shapes to -1 (only for the batch-2 experiment on graphs that are
// declared with batch 1; the golden outputs use the graphs as shipped).
function loadModel(name, dynamicBatch = false) {
  const jsonPath = path.join(MODELS_DIR, name + '.json');
  const jsonBuf = fs.readFileSync(jsonPath);
  const j = JSON.parse(jsonBuf.toString('utf8'));
  if (dynamicBatch) {
    for (const n of j.modelTopology.node) {
      if (n.op === 'Placeholder' && n.attr && n.attr.shape) n.attr.shape.shape.dim[0].size = '-1';
    }
    for (const t of Object.values((j.signature || j.userDefinedMetadata.signature).inputs)) t.tensorShape.dim[0].size = '-1';
  }
  const weightSpecs = [];
  const shards = [];
  const files = [{ file: `models/${name}.json`, bytes: jsonBuf.length, sha256: sha256(jsonBuf) }];
  for (const group of j.weightsManifest) {
    for (const p of group.paths) {
      const b = fs.readFileSync(path.join(MODELS_DIR, p));
      shards.push(b);
      files.push({ file: `models/${p}`, bytes: b.length, sha256: sha256(b) });
    }
    weightSpecs.push(...group.weights);
  }
  const all = Buffer.concat(shards);
  if (dynamicBatch) {
    // Also rewrite the int32 target shapes of Reshape nodes from [1, ...] to [-1, ...].
    const reshapeShapes = new Set(j.modelTopology.node.filter((n) => n.op === 'Reshape')
      .map((n) => n.input[1].replace(/:0$/, '')));
    const bytesPer = { uint8: 1, uint16: 2, float16: 2 };
    let off = 0;
    for (const w of weightSpecs) {
      const n = w.shape.reduce((a, b) => a * b, 1);
      const q = w.quantization;
      if (reshapeShapes.has(w.name) && w.dtype === 'int32' && !q && all.readInt32LE(off) === 1) {
        all.writeInt32LE(-1, off);
      }
      off += n * (q ? bytesPer[q.dtype] : 4);
    }
  }
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const handler = tf.io.fromMemory({
    modelTopology: j.modelTopology,
    weightSpecs,
    weightData,
    format: j.format,
    generatedBy: j.generatedBy,
    convertedBy: j.convertedBy,
    signature: j.signature,
    userDefinedMetadata: j.userDefinedMetadata,
  });
  return { json: j, files, handler };
}

function signatureOf(j) {
  return j.signature || (j.userDefinedMetadata && j.userDefinedMetadata.signature);
}

function shapeOf(sigT) { return sigT.tensorShape.dim.map((d) => Number(d.size)); }

// Runs the model on [N,S,S,3] data, returns the tensors for names, as
// { shape, data: Float32Array } in the order of names.
function run(model, data, n, size, names) {
  const outs = tf.tidy(() => {
    const x = tf.tensor4d(data, [n, size, size, 3], 'float32');
    let r = model.execute(x, names);
    if (!Array.isArray(r)) r = [r];
    return r;
  });
  const res = outs.map((t) => ({ shape: t.shape.slice(), data: t.dataSync().slice() }));
  tf.dispose(outs);
  return res;
}

// ---------------------------------------------------------------------------
async function main() {
  await tf.setBackend('cpu');
  await tf.ready();
  if (tf.getBackend() !== 'cpu') throw new Error('backend is not cpu');

  const pkg = (m) => require(`${m}/package.json`).version;
  const versions = {
    node: process.version,
    '@tensorflow/tfjs-core': pkg('@tensorflow/tfjs-core'),
    '@tensorflow/tfjs-backend-cpu': pkg('@tensorflow/tfjs-backend-cpu'),
    '@tensorflow/tfjs-converter': pkg('@tensorflow/tfjs-converter'),
    pngjs: pkg('pngjs'),
  };

  const imgBuf = fs.readFileSync(IMAGE_PATH);
  const png = loadImage(IMAGE_PATH);
  fs.mkdirSync(OUT_DIR, { recursive: true });

  const manifest = {
    format: 'dfdetect-golden-v1',
    generator: 'tools/golden/generate.js',
    backend: 'tfjs cpu (pure JS)',
    versions,
    image: { file: IMAGE_REL, width: png.width, height: png.height, sha256: sha256(imgBuf) },
    input_layout: 'NHWC float32, batch 1, H = W = size, 3 channels',
    sources: {
      pattern: 'P(y,x,c) = 255 * (0.5 + 0.3*sin(0.07*x + 0.05*y + 1.3*c) + 0.2*cos(0.0021*x*y + 0.9*c)), '
        + 'float64, c = 0 R, 1 G, 2 B',
      astronaut: 'P(y,x,c) = astronaut.png sample at row y0+y, column x0+x, channel c (R,G,B; 0..255), '
        + 'no resizing; [x0, y0] = crop',
    },
    preprocess: Object.fromEntries(Object.entries(PREPROCESS).map(([k, v]) => [k, v.formula])),
    rounding: 'all arithmetic in float64 (IEEE double, no FMA), then ONE conversion to float32 (round to nearest even)',
    subsets: {
      full: `the whole tensor, row-major (NHWC) order (every output; intermediates with at most ${SMALL_N} values)`,
      head: `the first ${SUBSET_N} values (row-major)`,
      tail: `the last ${SUBSET_N} values (row-major)`,
      sample: `values at index (j * ${SAMPLE_MUL}) mod N for j = 0..${SUBSET_N - 1}, N = element count`,
      channel_sum: 'C values: sum over all positions of channel c (last axis), accumulated in float64, stored as float32',
    },
    files: [],
    batch2: [],
  };

  const summary = [];
  for (const cfg of MODELS) {
    const { model: name, size } = cfg;
    const { json, files, handler } = loadModel(name);
    const model = await tfconv.loadGraphModel(handler);
    const sig = signatureOf(json);

    // Check that cfg.outputs is exactly the signature's output set.
    const sigOut = {};
    for (const [key, t] of Object.entries(sig.outputs)) sigOut[t.name] = { key, shape: shapeOf(t) };
    for (const [tname, key] of cfg.outputs) {
      if (!sigOut[tname] || sigOut[tname].key !== key) throw new Error(`${name}: ${tname} is not signature key ${key}`);
    }
    const want = Object.keys(sigOut).sort();
    const have = cfg.outputs.map((o) => o[0]).sort();
    if (JSON.stringify(want) !== JSON.stringify(have)) {
      throw new Error(`${name}: signature outputs ${want} != configured ${have}`);
    }
    const sigIn = Object.values(sig.inputs)[0];

    // Which graph node does each Identity output forward?
    const nodeByName = new Map(json.modelTopology.node.map((n) => [n.name, n]));
    const sourceOf = (tname) => {
      const nn = tname.replace(/:0$/, '');
      const node = nodeByName.get(nn);
      return node && node.op === 'Identity' ? node.input[0].replace(/:0$/, '') : nn;
    };

    const inputs = {
      pattern: makeInput(size, cfg.pre, patternP),
      astronaut: makeInput(size, cfg.pre, cropP(png, cfg.crop[0], cfg.crop[1], size)),
    };

    const outNames = cfg.outputs.map((o) => o[0]);
    const names = outNames.concat(cfg.inter);
    const results = {};
    for (const kind of ['pattern', 'astronaut']) {
      const t0 = Date.now();
      const res = run(model, inputs[kind], 1, size, names);
      const ms = Date.now() - t0;
      results[kind] = res;

      const chunks = [];
      let offset = 0;
      const tensors = [];
      const push = (entry, arr) => {
        entry.offset = offset;
        entry.count = arr.length;
        tensors.push(entry);
        chunks.push(Buffer.from(new Float32Array(arr).buffer));
        offset += arr.length;
      };

      const lines = [];
      res.forEach((r, i) => {
        const tname = names[i];
        const st = stats(r.data);
        if (i < outNames.length) {
          const so = sigOut[tname];
          if (JSON.stringify(so.shape.map((d) => (d < 0 ? 1 : d))) !== JSON.stringify(r.shape)) {
            throw new Error(`${name}: ${tname} shape ${r.shape} != signature ${so.shape}`);
          }
          push({
            name: tname, role: 'output', signature_key: so.key, node: sourceOf(tname),
            shape: r.shape, subset: 'full',
          }, r.data);
        } else if (r.data.length <= SMALL_N) {
          push({ name: tname, role: 'intermediate', shape: r.shape, subset: 'full' }, r.data);
        } else {
          const N = r.data.length;
          const C = r.shape[r.shape.length - 1];
          const head = r.data.slice(0, SUBSET_N);
          const tail = r.data.slice(N - SUBSET_N);
          const sample = new Float32Array(SUBSET_N);
          for (let j = 0; j < SUBSET_N; j++) sample[j] = r.data[(j * SAMPLE_MUL) % N];
          const csum = new Float64Array(C);
          for (let k = 0; k < N; k++) csum[k % C] += r.data[k];
          for (const [subset, arr] of [['head', head], ['tail', tail], ['sample', sample], ['channel_sum', csum]]) {
            push({ name: tname, role: 'intermediate', shape: r.shape, subset }, arr);
          }
        }
        lines.push(`  ${tname.padEnd(72)} [${r.shape}] min ${st.min.toPrecision(6)} max ${st.max.toPrecision(6)}`
          + ` mean ${st.mean.toPrecision(6)} zeros ${st.zeros}/${r.data.length}`);
      });

      const fileName = `${name}_${kind}.bin`;
      const bin = Buffer.concat(chunks);
      fs.writeFileSync(path.join(OUT_DIR, fileName), bin);
      const inBytes = f32bytes(inputs[kind]);
      const entry = {
        file: fileName,
        model: name,
        model_files: files,
        input_kind: kind,
        input_name: sigIn.name,
        input_shape: [1, size, size, 3],
        input_formula: { source: kind, preprocess: cfg.pre },
        input_fnv1a32: hex8(fnv1a32(inBytes)),
        input_sha256: sha256(inBytes),
        input_first8: Array.from(inputs[kind].slice(0, 8)),
        bytes: bin.length,
        floats: offset,
        sha256: sha256(bin),
        tensors,
      };
      if (kind === 'astronaut') entry.crop = { x0: cfg.crop[0], y0: cfg.crop[1], size };
      manifest.files.push(entry);
      console.log(`${name} / ${kind}: ${ms} ms -> ${fileName} (${bin.length} bytes)`);
      for (const l of lines) console.log(l);
    }

    // ---- sanity values ------------------------------------------------------
    const byName = (kind, n) => results[kind][names.indexOf(n)].data;
    const sigm = (v) => 1 / (1 + Math.exp(-v));
    if (name === 'blazeface') {
      for (const kind of ['pattern', 'astronaut']) {
        const s512 = byName(kind, 'Identity:0');
        const s384 = byName(kind, 'Identity_1:0');
        let best = -Infinity, bi = -1;
        for (let i = 0; i < 512; i++) if (s512[i] > best) { best = s512[i]; bi = i; }
        for (let i = 0; i < 384; i++) if (s384[i] > best) { best = s384[i]; bi = 512 + i; }
        // decode the best box: anchors (stride 16, 2/cell), then (stride 32, 6/cell)
        let ax, ay, reg;
        if (bi < 512) {
          const cell = bi >> 1; ax = ((cell % 16) + 0.5) * 16; ay = (Math.floor(cell / 16) + 0.5) * 16;
          reg = byName(kind, 'Identity_2:0').slice(bi * 16, bi * 16 + 16);
        } else {
          const cell = Math.floor((bi - 512) / 6); ax = ((cell % 8) + 0.5) * 32; ay = (Math.floor(cell / 8) + 0.5) * 32;
          reg = byName(kind, 'Identity_3:0').slice((bi - 512) * 16, (bi - 512) * 16 + 16);
        }
        const cx = ax + reg[0], cy = ay + reg[1];
        const msg = `blazeface ${kind}: best score sigmoid(${best.toFixed(4)}) = ${sigm(best).toFixed(6)} at anchor ${bi};`
          + ` box centre (${cx.toFixed(1)}, ${cy.toFixed(1)}) size ${reg[2].toFixed(1)}x${reg[3].toFixed(1)} (crop px);`
          + ` eyes (${(ax + reg[4]).toFixed(1)},${(ay + reg[5]).toFixed(1)}) (${(ax + reg[6]).toFixed(1)},${(ay + reg[7]).toFixed(1)})`;
        summary.push(msg);
      }
    } else if (name === 'facemesh') {
      for (const kind of ['pattern', 'astronaut']) {
        summary.push(`facemesh ${kind}: faceflag ${byName(kind, 'Identity_1:0')[0].toFixed(6)}`);
      }
    } else if (name === 'faceres') {
      for (const kind of ['pattern', 'astronaut']) {
        const g = byName(kind, 'gender_pred/Sigmoid:0')[0];
        const age = byName(kind, 'age_pred/Softmax:0');
        let ea = 0; for (let i = 0; i < 100; i++) ea += i * age[i];
        const f = stats(byName(kind, 'global_pooling/Mean'));
        summary.push(`faceres ${kind}: gender_pred ${g.toFixed(6)}, expected age ${ea.toFixed(2)}, `
          + `1024-d: zeros ${f.zeros}/1024, mean ${f.mean.toPrecision(5)}, max ${f.max.toPrecision(5)}`);
      }
      // Human's shortcut input for comparison: RGB [0,1]
      const alt = makeInput(size, 'unit', cropP(png, cfg.crop[0], cfg.crop[1], size));
      const r = run(model, alt, 1, size, ['global_pooling/Mean'])[0];
      const f = stats(r.data);
      summary.push(`faceres astronaut with RGB [0,1] input instead: 1024-d zeros ${f.zeros}/1024, mean ${f.mean.toPrecision(5)}`);
    } else if (name === 'antispoof') {
      for (const kind of ['pattern', 'astronaut']) {
        summary.push(`antispoof ${kind}: score ${byName(kind, 'Identity:0')[0].toFixed(6)}`);
      }
    }

    // ---- batch 2: [pattern, astronaut] stacked ------------------------------
    const per = size * size * 3;
    const both = new Float32Array(2 * per);
    both.set(inputs.pattern, 0);
    both.set(inputs.astronaut, per);
    const batch2 = (m, how) => {
      const b2 = { model: name, graph: how, ok: true, outputs: [] };
      try {
        const res2 = run(m, both, 2, size, outNames);
        res2.forEach((r, i) => {
          const n1 = results.pattern[i].data.length;
          const item = { name: outNames[i], shape: r.shape };
          if (r.shape[0] !== 2 || r.data.length !== 2 * n1) {
            item.note = `unexpected shape (batch-1 count ${n1})`;
            b2.ok = false;
          } else {
            let d = 0, bitexact = true;
            ['pattern', 'astronaut'].forEach((kind, b) => {
              const ref = results[kind][i].data;
              for (let k = 0; k < n1; k++) {
                const v = r.data[b * n1 + k];
                if (v !== ref[k]) bitexact = false;
                d = Math.max(d, Math.abs(v - ref[k]));
              }
            });
            item.max_abs_diff_vs_batch1 = d;
            item.bit_exact = bitexact;
          }
          b2.outputs.push(item);
        });
      } catch (e) {
        b2.ok = false;
        b2.error = String(e.message || e).split('\n')[0];
      }
      return b2;
    };
    const b2 = batch2(model, 'as shipped');
    manifest.batch2.push(b2);
    summary.push(`batch 2 ${name}: ${JSON.stringify(b2)}`);
    const ph = json.modelTopology.node.find((n) => n.op === 'Placeholder');
    if (!b2.ok && ph.attr.shape.shape.dim[0].size !== '-1') {
      const m2 = await tfconv.loadGraphModel(loadModel(name, true).handler);
      const b2d = batch2(m2, 'Placeholder batch and Reshape leading 1 patched to -1');
      manifest.batch2.push(b2d);
      summary.push(`batch 2 ${name} (patched): ${JSON.stringify(b2d)}`);
      m2.dispose();
    }
    model.dispose();
  }

  // Indented JSON, with arrays of numbers kept on one line.
  const text = JSON.stringify(manifest, null, 1)
    .replace(/\[\s*(-?[0-9.e+-]+(?:,\s*-?[0-9.e+-]+)*)\s*\]/g, (m, body) => `[${body.split(/,\s*/).join(', ')}]`);
  fs.writeFileSync(path.join(OUT_DIR, 'manifest.json'), text + '\n');
  console.log('\n' + summary.join('\n'));
}

main().catch((e) => { console.error(e); process.exit(1); });
