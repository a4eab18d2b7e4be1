// Resolves k6's built-in modules to the small stand-ins in shims/, so that node can load the
// scenario scripts and check what does not need k6's runtime: signing, bodies, options.
const shims = {
  k6: 'k6.mjs',
  'k6/http': 'http.mjs',
  'k6/crypto': 'crypto.mjs',
  'k6/metrics': 'metrics.mjs',
  'k6/execution': 'execution.mjs',
};

export async function resolve(specifier, context, next) {
  if (Object.hasOwn(shims, specifier)) {
    return { url: new URL(`./shims/${shims[specifier]}`, import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}
