// Resolves k6's built-in modules to the small stand-ins in shims/, so that node can load the
// scenario scripts and check what does not need k6's runtime: signing, bodies, options.
const shims = {
  k6: 'k6.mjs',
  'k6/http': 'http.mjs',
  'k6/crypto': 'crypto.mjs',
  'k6/metrics': 'metrics.mjs',
  'k6/execution': 'execution.mjs',
};

// K6_SHIM_LIVE=1: k6/http, k6's sleep and k6/metrics really work (synchronously, through curl),
// so that the scripts' functions can be called against a running pipeline.
const live = process.env.K6_SHIM_LIVE === '1';
const liveShims = { k6: 'k6-live.mjs', 'k6/http': 'http-live.mjs', 'k6/metrics': 'metrics-live.mjs' };

export async function resolve(specifier, context, next) {
  if (Object.hasOwn(shims, specifier)) {
    const file = live && Object.hasOwn(liveShims, specifier) ? liveShims[specifier] : shims[specifier];
    return { url: new URL(`./shims/${file}`, import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}
