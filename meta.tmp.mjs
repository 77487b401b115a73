import { build } from 'esbuild';
const r = await build({ entryPoints: [process.argv[2]], bundle: true, write: false, metafile: true, platform: 'node', format: 'esm', splitting: true, outdir: '/tmp/exp/meta', minify: true, external: ['pg-native','cloudflare:sockets','bun:ffi'] });
const outs = r.metafile.outputs;
for (const [k, v] of Object.entries(outs)) {
  if (v.entryPoint) {
    console.log('ENTRY', k, v.bytes, 'static imports:', v.imports.filter(i => i.kind === 'import-statement').map(i => i.path).join(' '));
    const ins = Object.entries(v.inputs).sort((a, b) => b[1].bytesInOutput - a[1].bytesInOutput);
    for (const [p, i] of ins) console.log('  ', i.bytesInOutput, p);
  }
}
for (const [k, v] of Object.entries(outs)) if (!v.entryPoint && !k.endsWith('.map')) { console.log('CHUNK', k, v.bytes); for (const [p, i] of Object.entries(v.inputs).sort((a,b)=>b[1].bytesInOutput-a[1].bytesInOutput).slice(0,40)) console.log('  ', i.bytesInOutput, p); }
