// Shared by the bin/ entries: imports a compiled CLI module from dist/ and runs its main(argv).
// A checkout that was never built gets one line saying how to build, not a module-not-found trace.
export async function runCompiled(rel) {
  const url = new URL(`../dist/${rel}`, import.meta.url);
  let mod;
  try {
    mod = await import(url.href);
  } catch (e) {
    if (e?.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes(url.pathname)) {
      process.stderr.write(`tsvs: ${url.pathname} is missing: build it first with \`npm run build\` (in ${new URL('..', import.meta.url).pathname})\n`);
      process.exitCode = 1;
      return;
    }
    throw e;
  }
  process.exitCode = await mod.main(process.argv.slice(2));
}
