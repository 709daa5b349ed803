/**
 * Preloaded into the bot process by the bench (`node --expose-gc -r dist/bench/botProbe.js …`),
 * never by the product: on SIGUSR2 it runs a full GC and prints one line with the process's
 * memory, so the bench can read heap and RSS after a collection. It changes nothing else.
 */
process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  const m = process.memoryUsage();
  process.stdout.write(
    `BENCH_MEMORY ${JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, gc: Boolean(gc) })}\n`,
  );
});

// With --cpu-prof or --heap-prof, a profile is written only on a normal exit: make SIGTERM one.
if (process.execArgv.some((a) => /^--(cpu|heap)-prof/.test(a))) process.on('SIGTERM', () => process.exit(0));
